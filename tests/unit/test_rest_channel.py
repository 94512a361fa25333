"""The REST channel with server-issued, signed conversation ids (bot/channels/rest.py), served by
Sanic with a stand-in agent: a caller can only write into a conversation the server gave them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import requests
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from bot.channels.limits import RATE_LIMITED_REPLY, SESSIONS_LIMITED_REPLY
from bot.channels.rest import SignedRestInput
from bot.channels.tokens import Tokens
from tests.helpers.serving import serving

SECRET = "a-rest-secret-for-the-tests-only"


@dataclass
class Agent:
    messages: list[UserMessage] = field(default_factory=list)

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        # As Rasa does: every bot message goes through send_response.
        await message.output_channel.send_response(
            message.sender_id, {"text": f"re: {message.text}"}
        )


_apps = iter(range(10**6))


@pytest.fixture
def rest(monkeypatch) -> Iterator[SimpleNamespace]:
    monkeypatch.setenv("SEN_RATE_LIMIT", "3/60")
    app = Sanic(f"sen-rest-test-{next(_apps)}")
    app.ctx.agent = Agent()
    register([SignedRestInput(SECRET)], app, route="/webhooks/")
    with serving(app) as url:
        yield SimpleNamespace(url=f"{url}/webhooks/rest", agent=app.ctx.agent)


def session(rest, body: dict | None = None) -> dict:
    reply = requests.post(f"{rest.url}/session", json=body, timeout=10)
    assert reply.status_code == 200
    return reply.json()


def send(rest, body: dict | bytes) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{rest.url}/webhook", data=data, timeout=10)


def test_the_server_issues_a_new_random_id_with_a_token_that_names_it(rest) -> None:
    first, second = session(rest), session(rest)
    assert first["sender"] != second["sender"] and len(first["sender"]) >= 24
    assert Tokens(SECRET.encode()).verify(first["token"]) == first["sender"]
    reply = send(rest, {**first, "message": "hello"})
    assert reply.status_code == 200 and reply.json() == [
        {"recipient_id": first["sender"], "text": "re: hello"}
    ]
    [message] = rest.agent.messages
    assert (message.sender_id, message.input_channel) == (first["sender"], "rest")


def test_renewing_a_token_keeps_the_conversation(rest) -> None:
    first = session(rest)
    again = session(rest, {"token": first["token"]})
    assert again["sender"] == first["sender"]
    assert session(rest, {"token": first["token"] + "x"})["sender"] != first["sender"]


@pytest.mark.parametrize(
    "forge",
    [
        lambda mine, other: {"sender": "my-chosen-id", "message": "hi"},
        lambda mine, other: {"sender": other["sender"], "message": "hi"},
        lambda mine, other: {"sender": other["sender"], "token": mine["token"], "message": "hi"},
        lambda mine, other: {
            "sender": other["sender"],
            "token": mine["token"].replace(mine["sender"], other["sender"]),
            "message": "hi",
        },
        lambda mine, other: {"sender": mine["sender"], "token": "", "message": "hi"},
        lambda mine, other: {
            "sender": mine["sender"],
            "token": Tokens(b"another-secret").token_for(mine["sender"]),
            "message": "hi",
        },
    ],
)
def test_no_one_can_write_into_a_conversation_they_were_not_given(rest, forge) -> None:
    mine, other = session(rest), session(rest)
    reply = send(rest, forge(mine, other))
    assert reply.status_code == 403 and reply.json()["error"] == "session"
    assert "/webhooks/rest/session" in reply.json()["message"]
    assert rest.agent.messages == []


def test_bad_and_oversized_bodies_are_refused_clearly(rest) -> None:
    mine = session(rest)
    assert send(rest, b"{not json").status_code == 400
    assert send(rest, {**mine, "message": 42}).status_code == 400
    big = send(rest, {**mine, "message": "x" * (65 * 1024)})
    assert big.status_code == 413 and big.json()["error"] == "too_large"
    assert rest.agent.messages == []


def test_a_conversation_over_its_rate_limit_gets_429_and_a_clear_sentence(rest) -> None:
    mine, other = session(rest), session(rest)
    for text in ("one", "two", "three"):
        assert send(rest, {**mine, "message": text}).status_code == 200
    refused = send(rest, {**mine, "message": "four"})
    assert refused.status_code == 429
    assert refused.json() == {"error": "rate_limited", "message": RATE_LIMITED_REPLY}
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert send(rest, {**other, "message": "hello"}).status_code == 200
    assert [m.text for m in rest.agent.messages] == ["one", "two", "three", "hello"]


def test_only_the_assistants_button_payloads_reach_rasa_as_payloads(rest) -> None:
    for text in ["/safeguarding", '/request_human{"x":1}', " /request_human ", "/kb_senco", "/x"]:
        assert send(rest, {**session(rest), "message": text}).status_code == 200
    assert [m.text for m in rest.agent.messages] == [
        "safeguarding",
        'request_human{"x":1}',
        "/request_human",
        "/kb_senco",
        "x",
    ]


def test_deeply_nested_json_is_a_400_not_a_crash(rest) -> None:
    deep = b"[" * 10_000 + b"]" * 10_000  # 20 KB: json.loads gives up with a RecursionError
    reply = send(rest, deep)
    assert reply.status_code == 400 and reply.json()["error"] == "invalid"
    renewed = requests.post(f"{rest.url}/session", data=deep, timeout=10)
    assert renewed.status_code == 200 and renewed.json()["sender"]  # not a renewal: a new one
    assert not rest.agent.messages


def test_one_address_may_start_only_session_limit_conversations(monkeypatch) -> None:
    # The black-box test started 100 conversations in 0.3 s, each with its own rate limit.
    monkeypatch.setenv("SEN_SESSION_LIMIT", "3/60")
    app = Sanic(f"sen-rest-test-{next(_apps)}")
    app.ctx.agent = Agent()
    register([SignedRestInput(SECRET)], app, route="/webhooks/")
    with serving(app) as url:
        started = [requests.post(f"{url}/webhooks/rest/session", timeout=10) for _ in range(4)]
        assert [reply.status_code for reply in started] == [200, 200, 200, 429]
        refused = started[-1]
        assert refused.json() == {"error": "rate_limited", "message": SESSIONS_LIMITED_REPLY}
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Renewing a conversation's token starts none: still allowed.
        renewed = requests.post(
            f"{url}/webhooks/rest/session", json={"token": started[0].json()["token"]}, timeout=10
        )
        assert renewed.status_code == 200
        assert renewed.json()["sender"] == started[0].json()["sender"]
