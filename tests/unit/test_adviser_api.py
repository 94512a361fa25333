"""The adviser API over real HTTP (the app served on a free loopback port) with a fake Rasa
client that records what would have been sent, and the hand-off watcher on a real SQLite events
table written the way Rasa's SQL event broker writes it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import sqlalchemy as sa
from aiohttp import web

from bot.adviser.api import AdviserApiSettings, create_app, load_api_settings, main
from bot.assistant.safeguarding import SAFEGUARDING_CHECK, SAFEGUARDING_REPLY
from bot.cases.db import events_table
from bot.cases.desk import CLOSED_REPLY
from bot.cases.rasa_client import (
    RasaClient,
    RasaUnavailable,
    UnaddressableConversation,
    transcript_from_events,
)
from bot.cases.store import CaseStore
from bot.cases.watcher import LEFT_REPLY, HandoffWatcher
from bot.contract import Case, Priority, Reason, Status
from tests.helpers.serving import FakeRasa, serving

CONVERSATION = "parent-conv-1"


def settings(tmp_path: Path, run_watcher: bool = False) -> AdviserApiSettings:
    return AdviserApiSettings(
        handoff_db_url=f"sqlite:///{tmp_path / 'handoff.db'}",
        rasa_url="http://127.0.0.1:9",
        rasa_jwt_secret="unused",
        events_db_url=f"sqlite:///{tmp_path / 'events.db'}",
        run_watcher=run_watcher,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaseStore]:
    store = CaseStore(settings(tmp_path).handoff_db_url)
    yield store
    store.engine.dispose()


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


class Api:
    def __init__(self, base: str, tokens: dict[str, str]) -> None:
        self.base = base
        self.tokens = tokens
        self.http = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        as_: str | None = "sam",
        body: Any = None,
        raw: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        sent = dict(headers or {})
        if as_ is not None:
            sent.setdefault("Authorization", f"Bearer {self.tokens[as_]}")
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.http.request(method, self.base + path, data=data, headers=sent, timeout=10)


@pytest.fixture
def api(tmp_path: Path, store: CaseStore, rasa: FakeRasa) -> Iterator[Api]:
    tokens = {"sam": store.add_adviser("sam", "Sam"), "alex": store.add_adviser("alex", "Alex")}
    app = create_app(settings(tmp_path), client=rasa, store=store)
    with serving(app) as base:
        client = Api(base, tokens)
        yield client
        client.http.close()


def open_case(
    store: CaseStore,
    conversation: str = CONVERSATION,
    priority: Priority = Priority.NORMAL,
    paused: bool = False,
) -> Case:
    case = store.open_case(Case(conversation, "socketio", Reason.PARENT_ASKED, priority=priority))
    if paused:
        store.set_paused(case.id, True)
    return store.get(case.id)


def assert_json_error(reply: requests.Response, status: int) -> str:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"error"} and body["error"], body
    assert "Traceback" not in reply.text and "<html" not in reply.text.lower()
    return body["error"]


# --- authentication, health, errors ------------------------------------------------------------
def test_health_needs_no_token(api: Api) -> None:
    reply = api.call("GET", "/health", as_=None)
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}


ROUTES = [
    ("GET", "/cases", None),
    ("GET", "/cases/1", None),
    ("POST", "/cases/1/claim", {}),
    ("POST", "/cases/1/messages", {"text": "hello"}),
    ("POST", "/cases/1/close", {"outcome": "resolved"}),
    ("PUT", "/advisers/me/availability", {"available": True}),
]


@pytest.mark.parametrize("method,path,body", ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-a-real-token", "Bearer ", "Basic c2FtOnNhbQ=="]
)
def test_every_route_but_health_needs_an_adviser_token(
    api: Api, store: CaseStore, rasa: FakeRasa, method: str, path: str, body: Any,
    authorization: str | None,
) -> None:  # fmt: skip
    open_case(store)
    headers = {"Authorization": authorization} if authorization else {}
    reply = api.call(method, path, as_=None, body=body, headers=headers)
    assert "token" in assert_json_error(reply, 401)
    assert rasa.calls == [] and store.get(1).status is Status.WAITING


def test_unknown_routes_and_methods_answer_in_json(api: Api) -> None:
    assert_json_error(api.call("GET", "/nowhere"), 404)
    assert_json_error(api.call("DELETE", "/cases"), 405)
    too_big = json.dumps({"text": "x" * 100_000})
    assert_json_error(api.call("POST", "/cases/1/messages", raw=too_big), 413)


def test_an_unexpected_failure_is_a_json_500_without_details(
    api: Api, store: CaseStore, rasa: FakeRasa
) -> None:
    case = open_case(store)
    rasa.transcript_error = RuntimeError("secret internals")
    message = assert_json_error(api.call("GET", f"/cases/{case.id}"), 500)
    assert "secret" not in message


# --- listing and reading -----------------------------------------------------------------------
def test_cases_are_listed_urgent_first_and_filtered(api: Api, store: CaseStore) -> None:
    normal = open_case(store, "conv-normal")
    live = open_case(store, "conv-live")
    store.claim(live.id, "alex")
    urgent = open_case(store, "conv-urgent", Priority.URGENT)

    listed = api.call("GET", "/cases")
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["cases"]] == [urgent.id, normal.id, live.id]
    assert listed.json()["cases"][0]["priority"] == "urgent"

    def ids(query: str) -> list[int]:
        reply = api.call("GET", f"/cases?{query}")
        assert reply.status_code == 200, reply.text
        return [c["id"] for c in reply.json()["cases"]]

    assert ids("status=waiting") == [urgent.id, normal.id]
    assert ids("status=live") == [live.id]
    assert ids("status=closed") == []
    assert ids("priority=urgent") == [urgent.id]
    assert ids("status=waiting&priority=normal") == [normal.id]


@pytest.mark.parametrize("query", ["status=open", "priority=high", "status=", "priority=URGENT"])
def test_a_bad_filter_is_a_400(api: Api, query: str) -> None:
    assert "must be one of" in assert_json_error(api.call("GET", f"/cases?{query}"), 400)


def test_a_case_comes_with_its_transcript(api: Api, store: CaseStore, rasa: FakeRasa) -> None:
    case = open_case(store)
    lines = [{"from": "parent", "text": "I need help", "timestamp": 1.0}]
    rasa.transcripts[CONVERSATION] = lines
    reply = api.call("GET", f"/cases/{case.id}")
    assert reply.status_code == 200
    assert reply.json()["case"]["reference"] == case.reference
    assert reply.json()["transcript"] == lines
    assert reply.json()["feedback"] == []

    # The parent's "Was this helpful?" answers in that conversation come with it, no other's.
    store.record_feedback(CONVERSATION, "0123456789abcdef", "senco", False)
    store.record_feedback("someone-else", "0123456789abcdef", "senco", True)
    feedback = api.call("GET", f"/cases/{case.id}").json()["feedback"]
    assert [(f["message_id"], f["article"], f["helpful"]) for f in feedback] == [
        ("0123456789abcdef", "senco", False)
    ]

    rasa.down = True
    reply = api.call("GET", f"/cases/{case.id}")
    assert reply.status_code == 200 and reply.json()["transcript"] == []
    assert "could not be reached" in reply.json()["transcript_error"]

    assert_json_error(api.call("GET", "/cases/4242"), 404)


# --- claiming ----------------------------------------------------------------------------------
def test_claiming_pauses_the_bot_and_tells_the_parent(
    api: Api, store: CaseStore, rasa: FakeRasa
) -> None:
    case = open_case(store)
    reply = api.call("POST", f"/cases/{case.id}/claim")
    assert reply.status_code == 200, reply.text
    claimed = reply.json()["case"]
    assert (claimed["status"], claimed["adviser"], claimed["paused"]) == ("live", "sam", True)
    assert rasa.sent() == [
        ("pause", CONVERSATION),
        ("bot", CONVERSATION, "Sam, an adviser, has joined the chat."),
    ]
    # Claiming again (a double click) neither pauses nor announces twice.
    assert api.call("POST", f"/cases/{case.id}/claim", body={}).status_code == 200
    assert len(rasa.sent()) == 2


def test_a_second_adviser_gets_409_and_can_take_over_explicitly(
    api: Api, store: CaseStore, rasa: FakeRasa
) -> None:
    case = open_case(store)
    api.call("POST", f"/cases/{case.id}/claim")
    rasa.calls.clear()

    assert "sam" in assert_json_error(api.call("POST", f"/cases/{case.id}/claim", as_="alex"), 409)
    refused = api.call("POST", f"/cases/{case.id}/claim", as_="alex", body={"take_over": False})
    assert_json_error(refused, 409)
    assert store.get(case.id).adviser == "sam" and rasa.calls == []

    taken = api.call("POST", f"/cases/{case.id}/claim", as_="alex", body={"take_over": True})
    assert taken.status_code == 200 and taken.json()["case"]["adviser"] == "alex"
    assert ("bot", CONVERSATION, "Alex, an adviser, has joined the chat.") in rasa.sent()
    # The previous holder can no longer write to the parent.
    sent = api.call("POST", f"/cases/{case.id}/messages", body={"text": "hi"})
    assert_json_error(sent, 403)


@pytest.mark.parametrize("body", ['{"take_over": "yes"}', '{"take_over": 1}', "[true]"])
def test_claim_rejects_a_malformed_body(api: Api, store: CaseStore, body: str) -> None:
    case = open_case(store)
    assert_json_error(api.call("POST", f"/cases/{case.id}/claim", raw=body), 400)
    assert store.get(case.id).status is Status.WAITING


def test_closed_and_unknown_cases_cannot_be_claimed(api: Api, store: CaseStore) -> None:
    case = open_case(store)
    store.close(case.id, None, "parent left")
    assert_json_error(api.call("POST", f"/cases/{case.id}/claim"), 409)
    assert_json_error(api.call("POST", "/cases/4242/claim"), 404)


def test_a_claim_when_rasa_is_down_is_a_502_and_can_be_retried(
    api: Api, store: CaseStore, rasa: FakeRasa
) -> None:
    case = open_case(store)
    rasa.down = True
    message = assert_json_error(api.call("POST", f"/cases/{case.id}/claim"), 502)
    assert "Claim it again" in message
    assert not store.get(case.id).paused

    rasa.down = False
    assert api.call("POST", f"/cases/{case.id}/claim").json()["case"]["paused"] is True
    assert ("bot", CONVERSATION, "Sam, an adviser, has joined the chat.") in rasa.sent()


# --- messages ----------------------------------------------------------------------------------
def test_only_the_holder_sends_messages_and_they_need_text(
    api: Api, store: CaseStore, rasa: FakeRasa
) -> None:
    case = open_case(store)
    path = f"/cases/{case.id}/messages"
    assert_json_error(api.call("POST", path, body={"text": "hello"}), 403)  # not claimed yet
    api.call("POST", f"/cases/{case.id}/claim")
    rasa.calls.clear()

    assert_json_error(api.call("POST", path, as_="alex", body={"text": "hello"}), 403)
    for bad in ({"text": ""}, {"text": "   "}, {}, {"text": 5}, {"text": "x" * 2001}):
        assert_json_error(api.call("POST", path, body=bad), 400)
    assert_json_error(api.call("POST", path), 400)  # no body at all
    assert rasa.calls == []

    reply = api.call("POST", path, body={"text": "Hello, I'm reading your messages now."})
    assert reply.status_code == 201 and reply.json() == {"sent": True}
    assert rasa.sent() == [
        ("adviser", CONVERSATION, "Sam", "Hello, I'm reading your messages now.")
    ]
    assert api.call("POST", path, body={"text": "x" * 2000}).status_code == 201

    rasa.down = True
    assert_json_error(api.call("POST", path, body={"text": "still there?"}), 502)
    assert_json_error(api.call("POST", "/cases/4242/messages", body={"text": "hi"}), 404)


@pytest.mark.parametrize(
    "raw", ["{not json", '{"text": "unterminated', "[1, 2]", '"text"', "\xff\xfe"]
)
def test_broken_json_is_a_400_with_a_json_error(api: Api, store: CaseStore, raw: str) -> None:
    case = open_case(store)
    api.call("POST", f"/cases/{case.id}/claim")
    reply = api.call(
        "POST", f"/cases/{case.id}/messages", raw=raw, headers={"Content-Type": "application/json"}
    )
    message = assert_json_error(reply, 400)
    assert "JSON" in message


DEEP_JSON = "[" * 10_000 + "]" * 10_000  # 20 KB: json.loads gives up with a RecursionError


def test_deeply_nested_json_is_a_400_not_a_crash(api: Api, store: CaseStore) -> None:
    case = open_case(store)
    api.call("POST", f"/cases/{case.id}/claim")
    for method, path in [
        ("POST", f"/cases/{case.id}/messages"),
        ("POST", f"/cases/{case.id}/close"),
        ("POST", f"/cases/{case.id}/claim"),
        ("PUT", "/advisers/me/availability"),
    ]:
        reply = api.call(method, path, raw=DEEP_JSON, headers={"Content-Type": "application/json"})
        assert "JSON" in assert_json_error(reply, 400)


@pytest.mark.parametrize("case_id", ["99999999999999999999"])
def test_a_case_id_too_large_for_the_database_is_a_404(api: Api, case_id: str) -> None:
    for method, path, body in [
        ("GET", f"/cases/{case_id}", None),
        ("POST", f"/cases/{case_id}/claim", None),
        ("POST", f"/cases/{case_id}/messages", {"text": "hello"}),
        ("POST", f"/cases/{case_id}/close", {"outcome": "done"}),
    ]:
        assert_json_error(api.call(method, path, body=body), 404)


# --- closing -----------------------------------------------------------------------------------
def test_closing_resumes_the_bot_and_tells_the_parent(
    api: Api, store: CaseStore, rasa: FakeRasa
) -> None:
    case = open_case(store)
    api.call("POST", f"/cases/{case.id}/claim")
    rasa.calls.clear()
    path = f"/cases/{case.id}/close"

    assert_json_error(api.call("POST", path, body={}), 400)
    assert_json_error(api.call("POST", path, body={"outcome": " "}), 400)
    assert_json_error(api.call("POST", path, as_="alex", body={"outcome": "done"}), 403)
    assert rasa.calls == []

    reply = api.call("POST", path, body={"outcome": "Explained the graduated approach"})
    assert reply.status_code == 200, reply.text
    closed = reply.json()["case"]
    assert closed["status"] == "closed" and closed["outcome"] == "Explained the graduated approach"
    assert closed["paused"] is False
    assert rasa.sent() == [("resume", CONVERSATION), ("bot", CONVERSATION, CLOSED_REPLY)]


def test_closing_a_case_the_bot_never_paused_sends_nothing(
    api: Api, store: CaseStore, rasa: FakeRasa
) -> None:
    case = open_case(store)
    store.claim(case.id, "sam")  # e.g. a call-back taken by phone, never paused
    reply = api.call("POST", f"/cases/{case.id}/close", body={"outcome": "called back"})
    assert reply.status_code == 200 and rasa.sent() == []


def test_a_close_when_rasa_is_down_leaves_the_case_open(
    api: Api, store: CaseStore, rasa: FakeRasa
) -> None:
    case = open_case(store)
    api.call("POST", f"/cases/{case.id}/claim")
    rasa.down = True
    assert_json_error(api.call("POST", f"/cases/{case.id}/close", body={"outcome": "done"}), 502)
    assert store.get(case.id).status is Status.LIVE


# --- availability ------------------------------------------------------------------------------
def test_advisers_set_their_availability(api: Api, store: CaseStore) -> None:
    path = "/advisers/me/availability"
    reply = api.call("PUT", path, body={"available": True})
    assert reply.status_code == 200 and reply.json() == {"username": "sam", "available": True}
    assert store.adviser("sam").available and not store.adviser("alex").available
    assert api.call("PUT", path, body={"available": False}).json()["available"] is False
    assert not store.adviser("sam").available
    for bad in ({"available": "yes"}, {"available": 1}, {}):
        assert_json_error(api.call("PUT", path, body=bad), 400)


# --- the real RasaClient against a stand-in Rasa HTTP API --------------------------------------
@contextlib.asynccontextmanager
async def stand_in_rasa(status: int = 200) -> AsyncIterator[tuple[str, list[dict]]]:
    """An aiohttp server answering Rasa's tracker routes, recording every request."""
    seen: list[dict] = []

    async def record(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        seen.append({"method": request.method, "path": request.raw_path.split("?")[0],
                     "query": dict(request.query), "body": body,
                     "authorization": request.headers.get("Authorization", "")})  # fmt: skip
        events = [{"event": "user", "text": "hello", "timestamp": 1.0}]
        return web.json_response({"events": events}, status=status)

    app = web.Application()
    app.router.add_route("*", "/conversations/{conversation:.+}/tracker{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


def test_the_rasa_client_speaks_rasas_tracker_api() -> None:
    async def scenario() -> list[dict]:
        async with stand_in_rasa() as (url, seen):
            client = RasaClient(url, "a-shared-secret-long-enough-for-hs256")
            await client.pause("conv/1")
            await client.send_adviser_message("conv/1", "Sam", "Hello")
            await client.send_bot_message("conv/1", "A bot line")
            await client.resume("conv/1")
            assert await client.transcript("conv/1") == [
                {"from": "parent", "text": "hello", "timestamp": 1.0}
            ]
            return seen

    seen = asyncio.run(scenario())
    appended = seen[:4]
    for request in appended:
        assert request["method"] == "POST"
        assert request["path"] == "/conversations/conv/1/tracker/events"
        assert request["query"] == {"output_channel": "latest", "execute_side_effects": "true"}
        assert len(request["body"]) == 1 and isinstance(request["body"][0]["timestamp"], float)
    events = [request["body"][0] for request in appended]
    assert [e["event"] for e in events] == ["pause", "bot", "bot", "resume"]
    assert events[1]["text"] == "Sam (adviser): Hello"
    assert events[1]["metadata"] == {"from": "adviser", "name": "Sam"}
    # Not data.custom: Rasa's socket.io channel fails on it (see bot/cases/rasa_client.py).
    assert "custom" not in (events[1].get("data") or {})
    assert events[2]["text"] == "A bot line" and events[2]["metadata"] == {}
    assert seen[4]["method"] == "GET" and seen[4]["path"] == "/conversations/conv/1/tracker"
    assert seen[4]["query"] == {}
    # Every request carries a short-lived HS256 JWT for an admin, signed with the shared secret,
    # in the header (never the secret itself, never the query string).
    for request in seen:
        scheme, _, token = request["authorization"].partition(" ")
        claims = jwt.decode(token, "a-shared-secret-long-enough-for-hs256", algorithms=["HS256"])
        assert scheme == "Bearer" and claims["user"] == {
            "username": "sen-services",
            "role": "admin",
        }
        assert 0 < claims["exp"] - time.time() <= 300
        assert "a-shared-secret-long-enough-for-hs256" not in request["authorization"]


def test_the_rasa_client_says_clearly_when_rasa_is_unavailable() -> None:
    async def failures() -> list[str]:
        messages = []
        async with stand_in_rasa(status=500) as (url, _seen):
            with pytest.raises(RasaUnavailable) as refused:
                await RasaClient(url, "a-shared-secret-long-enough-for-hs256").pause("conv-1")
            messages.append(str(refused.value))
        with pytest.raises(RasaUnavailable) as unreachable:
            await RasaClient(
                "http://127.0.0.1:9", "a-shared-secret-long-enough-for-hs256", timeout=2
            ).tracker("conv-1")
        messages.append(str(unreachable.value))
        with pytest.raises(UnaddressableConversation):
            await RasaClient("http://127.0.0.1:9", "a-shared-secret-long-enough-for-hs256").pause(
                "has a space"
            )
        return messages

    refused, unreachable = asyncio.run(failures())
    assert "HTTP 500" in refused and "could not be reached" in unreachable
    assert "a-shared-secret-long-enough-for-hs256" not in refused + unreachable


# --- the transcript, from Rasa's events --------------------------------------------------------
def test_the_transcript_marks_parent_bot_and_adviser() -> None:
    events = [
        {"event": "action", "name": "action_listen", "timestamp": 0.5},
        {"event": "user", "text": "I want an adviser", "timestamp": 1.0},
        {"event": "bot", "text": "Of course.", "timestamp": 2.0, "metadata": {"model_id": "x"}},
        {"event": "pause", "timestamp": 2.5},
        {"event": "bot", "text": "Sam (adviser): Hi", "timestamp": 3.0,
         "metadata": {"from": "adviser", "name": "Sam"}},
        {"event": "bot", "text": "Alex (adviser): Hi", "timestamp": 4.0,
         "data": {"custom": {"from": "adviser", "name": "Alex"}}},
        {"event": "bot", "text": None, "timestamp": 5.0},
    ]  # fmt: skip
    assert transcript_from_events(events) == [
        {"from": "parent", "text": "I want an adviser", "timestamp": 1.0},
        {"from": "bot", "text": "Of course.", "timestamp": 2.0},
        {"from": "adviser", "text": "Sam (adviser): Hi", "timestamp": 3.0},
        {"from": "adviser", "text": "Alex (adviser): Hi", "timestamp": 4.0},
    ]


# --- the watcher -------------------------------------------------------------------------------
def events_url(tmp_path: Path) -> str:
    return settings(tmp_path).events_db_url


def write_events(url: str, sender: str, *events: dict) -> None:
    """Rows as Rasa's SQLEventBroker writes them: the event as JSON text, with its sender."""
    engine = sa.create_engine(url, future=True)
    with engine.begin() as db:
        for event in events:
            row = {"sender_id": sender, **event}
            db.execute(events_table.insert().values(sender_id=sender, data=json.dumps(row)))
    engine.dispose()


def user(text: str, intent: str = "nlu_fallback") -> dict:
    return {
        "event": "user",
        "text": text,
        "timestamp": time.time(),
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}},
        "input_channel": "socketio",
    }


PAUSE = {"event": "pause", "timestamp": 0.0}
RESUME = {"event": "resume", "timestamp": 0.0}
SESSION_STARTED = {"event": "session_started", "timestamp": 0.0}


@pytest.fixture
def watcher(tmp_path: Path, store: CaseStore, rasa: FakeRasa) -> HandoffWatcher:
    return HandoffWatcher(store, rasa, events_url(tmp_path))


def poll(watcher: HandoffWatcher) -> int:
    return asyncio.run(watcher.poll_once())


@pytest.mark.parametrize(
    "text",
    ["cancel", "Cancel.", "STOP!", "stop", "leave the queue", "End chat",
     "I don\u2019t want to wait", "i dont want to wait...", "/cancel_handoff"],
)  # fmt: skip
def test_a_parent_who_asks_to_leave_is_let_go(
    tmp_path: Path, store: CaseStore, rasa: FakeRasa, watcher: HandoffWatcher, text: str
) -> None:
    case = open_case(store, paused=True)
    write_events(events_url(tmp_path), CONVERSATION, SESSION_STARTED, PAUSE, user(text))
    assert poll(watcher) == 1
    closed = store.get(case.id)
    assert closed.status is Status.CLOSED and closed.outcome == "parent left"
    assert not closed.paused and closed.adviser is None
    assert rasa.sent() == [("resume", CONVERSATION), ("bot", CONVERSATION, LEFT_REPLY)]
    assert poll(watcher) == 0  # nothing new


def test_a_risk_while_waiting_gets_the_safeguarding_reply_and_an_urgent_case(
    tmp_path: Path, store: CaseStore, rasa: FakeRasa, watcher: HandoffWatcher
) -> None:
    case = open_case(store, paused=True)
    text = "he keeps saying he wants to kill himself"
    assert SAFEGUARDING_CHECK.matches(text)
    write_events(events_url(tmp_path), CONVERSATION, PAUSE, user(text))
    assert poll(watcher) == 1
    raised = store.get(case.id)
    assert raised.priority is Priority.URGENT and raised.reason is Reason.SAFEGUARDING
    assert raised.status is Status.WAITING and raised.paused
    assert "kill himself" in raised.summary
    assert rasa.sent() == [("bot", CONVERSATION, SAFEGUARDING_REPLY)]
    assert [c.id for c in store.cases(status=Status.WAITING)][0] == case.id


def test_a_risk_found_by_meaning_counts_too(
    tmp_path: Path, store: CaseStore, rasa: FakeRasa, watcher: HandoffWatcher
) -> None:
    """Rasa's NLU (the check by meaning) still runs while paused and names the intent."""
    case = open_case(store, paused=True)
    text = "I can't see a way through any of this any more"
    assert not SAFEGUARDING_CHECK.matches(text)  # so only the intent can have flagged it
    write_events(events_url(tmp_path), CONVERSATION, PAUSE, user(text, intent="safeguarding"))
    assert poll(watcher) == 1
    assert store.get(case.id).priority is Priority.URGENT
    assert rasa.sent() == [("bot", CONVERSATION, SAFEGUARDING_REPLY)]


def test_anything_else_goes_into_the_summary(
    tmp_path: Path, store: CaseStore, rasa: FakeRasa, watcher: HandoffWatcher
) -> None:
    case = open_case(store, paused=True)
    url = events_url(tmp_path)
    write_events(url, CONVERSATION, PAUSE, user("how do I stop the school excluding him"))
    write_events(url, CONVERSATION, user("He is in year 5. " + "x" * 400))
    assert poll(watcher) == 2
    summary = store.get(case.id).summary
    assert "Parent: how do I stop the school excluding him" in summary
    assert "Parent: He is in year 5. " + "x" * 283 in summary
    assert "x" * 284 not in summary  # at most 300 characters of a message
    assert store.get(case.id).status is Status.WAITING and rasa.sent() == []


def test_conversations_that_are_not_paused_are_ignored(
    tmp_path: Path, store: CaseStore, rasa: FakeRasa, watcher: HandoffWatcher
) -> None:
    url = events_url(tmp_path)
    not_paused = open_case(store, "conv-open")
    write_events(url, "conv-open", SESSION_STARTED, user("cancel"))
    write_events(url, "conv-no-case", SESSION_STARTED, PAUSE, user("cancel"))
    # Paused in the store, but Rasa's stream says resumed (or a new session started).
    resumed = open_case(store, "conv-resumed", paused=True)
    write_events(url, "conv-resumed", PAUSE, RESUME, user("cancel"))
    renewed = open_case(store, "conv-renewed", paused=True)
    write_events(url, "conv-renewed", PAUSE, SESSION_STARTED, user("cancel"))

    assert poll(watcher) == 0
    for case in (not_paused, resumed, renewed):
        assert store.get(case.id).status is Status.WAITING and store.get(case.id).summary == ""
    assert rasa.calls == []


def test_the_message_that_caused_the_pause_is_not_handled_again(
    tmp_path: Path, store: CaseStore, rasa: FakeRasa, watcher: HandoffWatcher
) -> None:
    """The action already answered it: a risk message must not get the reply twice."""
    case = open_case(store, paused=True)
    risk = "I want to die"
    bot = {"event": "bot", "text": SAFEGUARDING_REPLY, "timestamp": 0.0}
    write_events(events_url(tmp_path), CONVERSATION, SESSION_STARTED, user(risk), bot, PAUSE)
    assert poll(watcher) == 0
    assert rasa.calls == [] and store.get(case.id).summary == ""


def test_the_watcher_starts_from_the_newest_event(
    tmp_path: Path, store: CaseStore, rasa: FakeRasa
) -> None:
    open_case(store, paused=True)
    url = events_url(tmp_path)
    HandoffWatcher(store, rasa, url)  # creates the table, as Rasa would
    write_events(url, CONVERSATION, PAUSE, user("cancel"))
    late = HandoffWatcher(store, rasa, url)
    assert poll(late) == 0 and rasa.calls == []


def test_a_bad_event_does_not_stop_the_others(
    tmp_path: Path, store: CaseStore, rasa: FakeRasa, watcher: HandoffWatcher
) -> None:
    case = open_case(store, paused=True)
    url = events_url(tmp_path)
    write_events(url, CONVERSATION, PAUSE)
    engine = sa.create_engine(url, future=True)
    with engine.begin() as db:
        db.execute(events_table.insert().values(sender_id=CONVERSATION, data="{not json"))
        db.execute(events_table.insert().values(sender_id=CONVERSATION, data="[1, 2]"))
    engine.dispose()
    write_events(url, CONVERSATION, user("cancel"))
    assert poll(watcher) == 1
    assert store.get(case.id).status is Status.CLOSED


def test_a_cancel_while_rasa_is_down_is_tried_again(
    tmp_path: Path, store: CaseStore, rasa: FakeRasa, watcher: HandoffWatcher
) -> None:
    case = open_case(store, paused=True)
    write_events(events_url(tmp_path), CONVERSATION, PAUSE, user("cancel"))
    rasa.down = True
    assert poll(watcher) == 0 and watcher.stalled
    assert store.get(case.id).status is Status.WAITING  # not closed behind the parent's back

    rasa.down = False
    assert poll(watcher) == 1 and not watcher.stalled
    assert store.get(case.id).status is Status.CLOSED
    assert rasa.sent() == [("resume", CONVERSATION), ("bot", CONVERSATION, LEFT_REPLY)]


def test_the_app_runs_the_watcher_in_the_background(
    tmp_path: Path, store: CaseStore, rasa: FakeRasa
) -> None:
    case = open_case(store, paused=True)
    app = create_app(settings(tmp_path, run_watcher=True), client=rasa, store=store)
    with serving(app):
        write_events(events_url(tmp_path), CONVERSATION, PAUSE, user("end chat"))
        deadline = time.monotonic() + 10
        while store.get(case.id).status is not Status.CLOSED and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.get(case.id).status is Status.CLOSED
    assert app.ctx.watcher_task.cancelled()


# --- settings and the command line -------------------------------------------------------------
def test_settings_come_from_the_environment_with_loopback_defaults(tmp_path: Path) -> None:
    (tmp_path / "rasa-jwt-secret").write_text("file-secret\n")
    defaults = load_api_settings({"SEN_DATA_DIR": str(tmp_path)})
    assert defaults == AdviserApiSettings(
        handoff_db_url=f"sqlite:///{tmp_path / 'handoff.db'}",
        rasa_url="http://127.0.0.1:5005",
        rasa_jwt_secret="file-secret",
        events_db_url=f"sqlite:///{tmp_path / 'events.db'}",
        port=5056,
        run_watcher=True,
    )
    chosen = load_api_settings(
        {
            "SEN_DATA_DIR": str(tmp_path),
            "SEN_HANDOFF_DB_URL": "postgresql://db/handoff",
            "SEN_RASA_URL": "http://127.0.0.1:15005",
            "SEN_RASA_JWT_SECRET": "env-secret",
            "SEN_EVENTS_DB_URL": "sqlite:////srv/events.db",
            "SEN_ADVISER_API_PORT": "15056",
            "SEN_HANDOFF_WATCHER": "0",
        }
    )
    assert (chosen.handoff_db_url, chosen.rasa_jwt_secret, chosen.port) == (
        "postgresql://db/handoff",
        "env-secret",
        15056,
    )
    assert chosen.rasa_url == "http://127.0.0.1:15005" and not chosen.run_watcher
    assert chosen.events_db_url == "sqlite:////srv/events.db"


def test_add_adviser_prints_a_working_token_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SEN_HANDOFF_DB_URL", raising=False)
    assert main(["add-adviser", "jo", "Jo"]) == 0
    printed = capsys.readouterr().out.split()
    token = printed[-1]
    assert printed.count(token) == 1
    store = CaseStore(f"sqlite:///{tmp_path / 'handoff.db'}")
    assert store.adviser_for_token(token).first_name == "Jo"
    store.engine.dispose()
