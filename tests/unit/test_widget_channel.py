"""The website widget's channel without a server: tokens, message payloads, history, feedback."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import pytest

from bot.cases.store import CaseStore
from bot.channels.limits import SESSIONS_LIMITED_REPLY
from bot.channels.tokens import Tokens
from bot.channels.widget import bot_payload, history
from bot.contract import message_id


@pytest.fixture
def tokens() -> Tokens:
    return Tokens(b"a test secret")


def test_the_server_issues_random_conversation_ids_with_a_token_that_verifies(tokens):
    conversation, token = tokens.issue()
    other, _ = tokens.issue()
    assert conversation != other and len(conversation) >= 24
    assert tokens.verify(token) == conversation


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace(t.split(".")[0], "wSomeoneElsesConversation"),  # another id
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # forged signature
        lambda t: t.split(".")[0],  # the bare id, as Rasa's channel would take it
        lambda t: "",
        lambda t: None,
        lambda t: {"token": t},
        lambda t: t + "." + t,
    ],
)
def test_a_token_that_was_not_issued_by_the_server_names_no_conversation(tokens, tamper):
    _, token = tokens.issue()
    assert tokens.verify(tamper(token)) is None


def test_a_token_from_another_server_secret_does_not_verify(tokens):
    _, token = Tokens(b"another secret").issue()
    assert tokens.verify(token) is None


def test_a_token_expires_after_a_day_and_is_refreshed_on_each_visit(tokens):
    now = time.time()
    conversation, token = tokens.issue(now=now - 25 * 3600)
    assert tokens.verify(token, now=now) is None
    fresh = tokens.token_for(conversation, now=now - 3600)
    assert tokens.verify(fresh, now=now) == conversation


def test_an_answer_carries_its_article_buttons_and_a_stable_id():
    message = {
        "text": "The SENCO is ...\n\nSource: SEN Support guidance, section “Identifying SEN”.",
        "buttons": [{"title": "Meetings with the school", "payload": "/kb_meetings"}],
        "article": "senco",
        "timestamp": 1700000000.123456,
    }
    payload = bot_payload(dict(message))
    assert payload["from"] == "bot" and payload["article"] == "senco"
    assert payload["buttons"] == [{"title": "Meetings with the school", "payload": "/kb_meetings"}]
    assert payload["id"] == message_id(1700000000.123456, message["text"])
    assert bot_payload(dict(message))["id"] == payload["id"]


def test_an_adviser_message_is_marked_as_from_a_person_with_their_first_name():
    payload = bot_payload(
        {
            "text": "Sam (adviser): Hello, I'm Sam.",
            "from": "adviser",
            "name": "Sam",
            "timestamp": 1.5,
        }
    )
    assert (payload["from"], payload["name"], payload["text"]) == (
        "adviser",
        "Sam",
        "Hello, I'm Sam.",
    )
    assert "article" not in payload


def test_nothing_to_show_sends_nothing():
    assert bot_payload({"text": "", "timestamp": 1.0}) is None
    assert bot_payload({"text": None, "buttons": [{"title": "x"}]}) is None


def test_history_rebuilds_the_conversation_as_the_widget_showed_it():
    answer_text = "An answer.\n\nSource: SEN Support guidance, section “X”."
    events = [
        {"event": "action", "name": "action_session_start", "timestamp": 1.0},
        {"event": "bot", "text": "Hello, I'm the assistant.", "data": {}, "timestamp": 1.1},
        {
            "event": "user",
            "text": "/kb_senco",
            "metadata": {"display": "What a SENCO does", "client_id": "c123"},
            "timestamp": 2.0,
        },
        {
            "event": "bot",
            "text": answer_text,
            "data": {"buttons": [{"title": "Talk to an adviser", "payload": "/request_human"}]},
            "metadata": {"article": "senco"},
            "timestamp": 2.1,
        },
        {"event": "slot", "name": "route", "value": "answer", "timestamp": 2.2},
        {
            "event": "bot",
            "text": "Sam (adviser): Hi",
            "metadata": {"from": "adviser", "name": "Sam"},
            "timestamp": 3.0,
        },
    ]
    answer_id = message_id(2.1, answer_text)
    shown = history(events, feedback={answer_id: True})
    assert [(m["from"], m["text"]) for m in shown] == [
        ("bot", "Hello, I'm the assistant."),
        ("parent", "What a SENCO does"),  # the button's title, not its payload
        ("bot", answer_text),
        ("adviser", "Hi"),
    ]
    assert shown[1]["id"] == "c123"  # the id the widget gave it: shown once after a reconnect
    assert shown[2]["id"] == answer_id and shown[2]["helpful"] is True
    assert shown[2]["article"] == "senco"


def test_feedback_is_stored_per_answer_once_and_the_first_choice_stands(tmp_path):
    store = CaseStore(f"sqlite:///{tmp_path / 'h.db'}")
    assert store.record_feedback("conv-1", "a" * 16, "senco", True)
    assert store.record_feedback("conv-1", "b" * 16, "sen-support", False)
    assert not store.record_feedback("conv-1", "a" * 16, "senco", False)
    assert store.record_feedback("conv-2", "a" * 16, "senco", False)
    assert store.feedback_for("conv-1") == {"a" * 16: True, "b" * 16: False}
    assert store.feedback_for("conv-2") == {"a" * 16: False}
    rows = store.feedback("conv-1")
    assert {(r["article"], r["helpful"]) for r in rows} == {
        ("senco", True),
        ("sen-support", False),
    }


# --- "Was this helpful?" over a real socket.io connection -------------------------------------
# The widget channel served by Sanic with a stand-in agent holding a real Rasa tracker store and
# lock store; the parent is the socket.io client the server tests use. Answers are put in the
# tracker as Rasa stores them: a bot event whose metadata carries the article (actions/runtime.py
# deliver()), and the parent learns their ids from the history the server sends on a reconnect.
ANSWER = "The SENCO is the teacher who ...\n\nSource: SEN Support guidance, section “The SENCO”."
_widget_apps = iter(range(10**6))


@pytest.fixture
def session_limit() -> str:
    return "30/60"  # SEN_SESSION_LIMIT's default; a test may override this fixture


@pytest.fixture
def widget(tmp_path, monkeypatch, session_limit):
    monkeypatch.setenv("SEN_SESSION_LIMIT", session_limit)
    from rasa.core.channels.channel import register
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from sanic import Sanic

    from bot.channels import widget as channel
    from tests.helpers.serving import serving

    monkeypatch.setenv("SEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEN_HANDOFF_DB_URL", f"sqlite:///{tmp_path / 'handoff.db'}")
    monkeypatch.setenv("SEN_WIDGET_SECRET", "a widget secret for the tests only")
    channel._case_store.cache_clear()
    app = Sanic(f"sen-widget-test-{next(_widget_apps)}")
    trackers = InMemoryTrackerStore(Domain.empty())
    app.ctx.agent = SimpleNamespace(
        tracker_store=trackers, lock_store=InMemoryLockStore(), processor=None
    )
    register([channel.WidgetInput()], app, route="/webhooks/")
    with serving(app) as url:
        yield SimpleNamespace(url=url, trackers=trackers, store=channel._case_store())
    channel._case_store.cache_clear()


def _conversation_with(widget, conversation: str, *events) -> None:
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker.from_events(conversation, list(events))
    asyncio.run(widget.trackers.save(tracker))


def _parent_with_an_answer(widget, article: str = "senco"):
    """A parent whose conversation holds the introduction, their question and an answer; the
    widget's view of it (the history a reconnect brings) and the answer as the widget shows it."""
    from rasa.shared.core.events import BotUttered, UserUttered

    from tests.helpers.socketio_parent import SocketParent

    first = SocketParent(widget.url).connect()
    first.close()
    now = time.time()
    _conversation_with(
        widget,
        first.session_id,
        BotUttered("Hello, I'm an automated helper.", timestamp=now - 3),
        UserUttered("who is the senco", timestamp=now - 2),
        BotUttered(
            ANSWER,
            data={"buttons": [{"title": "Talk to an adviser", "payload": "/request_human"}]},
            metadata={"article": article},
            timestamp=now - 1,
        ),
    )
    parent = SocketParent(widget.url, token=first.token).connect()
    [answer] = [m for m in parent.history if m.get("article")]
    return parent, answer


def _vote(parent, message_id: str, article: str = "senco", helpful: bool = True) -> dict:
    return parent.call(
        "feedback",
        {"token": parent.token, "message_id": message_id, "article": article, "helpful": helpful},
    )


def test_feedback_on_a_real_answer_is_taken_once_and_a_second_vote_changes_nothing(widget):
    parent, answer = _parent_with_an_answer(widget)
    try:
        assert _vote(parent, answer["id"], helpful=True) == {"ok": True}
        second = _vote(parent, answer["id"], helpful=False)
        assert second == {"ok": False, "error": "already_given", "helpful": True}
        again = _vote(parent, answer["id"], helpful=True)
        assert again["ok"] is False and again["error"] == "already_given"
    finally:
        parent.close()
    assert widget.store.feedback_for(parent.session_id) == {answer["id"]: True}
    [row] = widget.store.feedback(parent.session_id)
    assert (row["article"], row["helpful"]) == ("senco", True)


def test_feedback_for_an_invented_message_id_is_refused_and_stores_nothing(widget):
    parent, answer = _parent_with_an_answer(widget)
    try:
        for invented in ("0" * 16, "a1b2c3d4e5f60718", answer["id"][::-1]):
            assert _vote(parent, invented) == {"ok": False, "error": "unknown_message"}
        # The introduction is a bot message of this conversation, but not an answer.
        [intro] = [m for m in parent.history if "automated" in m["text"]]
        assert _vote(parent, intro["id"]) == {"ok": False, "error": "unknown_message"}
    finally:
        parent.close()
    assert widget.store.feedback() == []


def test_feedback_on_another_conversations_answer_is_refused(widget):
    parent, answer = _parent_with_an_answer(widget)
    parent.close()
    from tests.helpers.socketio_parent import SocketParent

    stranger = SocketParent(widget.url).connect()
    try:
        assert _vote(stranger, answer["id"]) == {"ok": False, "error": "unknown_message"}
    finally:
        stranger.close()
    assert widget.store.feedback() == []


def test_feedback_naming_another_article_than_the_answers_is_refused(widget):
    parent, answer = _parent_with_an_answer(widget, article="senco")
    try:
        ack = _vote(parent, answer["id"], article="ehcp")
        assert ack == {"ok": False, "error": "invalid"}
    finally:
        parent.close()
    assert widget.store.feedback() == []


MALFORMED = [
    {"message_id": "0" * 30_000},  # huge, within socket.io's 64 KB buffer
    {"padding": "x" * 30_000},  # a field the widget never sends
    {"article": "s" * 30_000},
    {"message_id": None},
    {"message_id": ["0" * 16]},
    {"message_id": "0" * 15},
    {"message_id": "Z" * 16},
    {"helpful": 1},
    {"helpful": "yes"},
    {"helpful": None},
    {"article": 7},
]


def test_a_huge_or_malformed_feedback_body_is_refused(widget):
    parent, answer = _parent_with_an_answer(widget)
    try:
        for body in MALFORMED:
            data = {
                "token": parent.token,
                "message_id": answer["id"],
                "article": "senco",
                "helpful": True,
                **body,
            }
            assert parent.call("feedback", data) == {"ok": False, "error": "invalid"}, body
        assert parent.call("feedback", ["not", "a", "dict"]) == {"ok": False, "error": "session"}
    finally:
        parent.close()
    assert widget.store.feedback() == []


def test_a_websocket_that_disconnects_logs_no_error(widget, caplog):
    # Every widget that closed its websocket made Sanic log "Invalid response type None" at
    # ERROR with a traceback: engine.io's handler returns no response after a websocket.
    import aiohttp

    async def visit() -> str:
        url = widget.url + "/socket.io/?EIO=4&transport=websocket"
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url) as ws:
                await ws.receive()  # engine.io's open packet
                await ws.send_str("40")
                await ws.receive()  # socket.io's connect
                await ws.send_str('42["session_request",{}]')
                confirm = (await ws.receive()).data
        await asyncio.sleep(0.5)  # the server notices the close
        return confirm

    with caplog.at_level("INFO"):
        assert "session_confirm" in asyncio.run(visit())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_one_socket_may_start_only_a_few_conversations(widget):
    # The black-box test started 100 conversations from one socket in 5 s, each with its own
    # per-conversation rate limit.
    from tests.helpers.socketio_parent import SocketParent

    parent = SocketParent(widget.url).connect()  # its first conversation
    acks = [parent.call("session_request", {"token": None}) for _ in range(6)]
    parent.close()
    assert acks[:4] == [{"ok": True}] * 4
    assert [ack["error"] for ack in acks[4:]] == ["rate_limited", "rate_limited"]
    assert acks[-1]["message"] == SESSIONS_LIMITED_REPLY
    # A reconnect with its token is no new conversation: never refused.
    again = SocketParent(widget.url, token=parent.token).connect()
    assert again.new is False
    again.close()


@pytest.mark.parametrize("session_limit", ["3/60"])
def test_one_address_may_start_only_session_limit_conversations(widget):
    from tests.helpers.socketio_parent import SocketParent

    for _ in range(3):
        SocketParent(widget.url).connect().close()
    late = SocketParent(widget.url)
    late.client.connect(widget.url, socketio_path="/socket.io", transports=["polling"])
    ack = late.call("session_request", {"token": None})
    late.close()
    assert ack == {"ok": False, "error": "rate_limited", "message": SESSIONS_LIMITED_REPLY}
