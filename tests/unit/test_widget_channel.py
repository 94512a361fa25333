"""The website widget's channel without a server: tokens, message payloads, history, feedback."""

from __future__ import annotations

import time

import pytest

from bot.cases.store import CaseStore
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


def test_feedback_is_stored_per_answer_and_a_change_of_mind_replaces_it(tmp_path):
    store = CaseStore(f"sqlite:///{tmp_path / 'h.db'}")
    store.record_feedback("conv-1", "a" * 16, "senco", True)
    store.record_feedback("conv-1", "b" * 16, "sen-support", False)
    store.record_feedback("conv-1", "a" * 16, "senco", False)
    store.record_feedback("conv-2", "a" * 16, "senco", True)
    assert store.feedback_for("conv-1") == {"a" * 16: False, "b" * 16: False}
    rows = store.feedback("conv-1")
    assert {(r["article"], r["helpful"]) for r in rows} == {
        ("senco", False),
        ("sen-support", False),
    }
