"""A parent handed to an adviser and back, against real servers started by the test run.

The parent is a socket.io client (the website channel); the adviser uses the adviser API.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.cases.store import CaseStore
from bot.ops.servers import Servers
from tests.helpers.adviser_client import call_adviser_api
from tests.helpers.ports import free_ports
from tests.helpers.socketio_parent import SocketParent

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "sen-assistant.tar.gz"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("handoff")
    assert MODEL.exists(), "Train first: `make train` (make test does this)."
    servers = Servers(
        MODEL, *free_ports(3), data_dir=tmp_path,
        extra_env={"SEN_OPENING_HOURS": "Mon-Sun 00:00-23:59"},
    )  # fmt: skip
    store = CaseStore(f"sqlite:///{tmp_path / 'handoff.db'}")
    servers.adviser_tokens = {
        "sam": store.add_adviser("sam", "Sam"),
        "alex": store.add_adviser("alex", "Alex"),
    }
    store.set_available("sam", True)
    with servers:
        yield servers


def api(servers, method: str, path: str, adviser: str = "sam", body: dict | None = None):
    token = servers.adviser_tokens[adviser]
    return call_adviser_api(servers.adviser_url, token, method, path, body)


def waiting_case(servers, conversation_id: str) -> dict:
    status, body = api(servers, "GET", "/cases?status=waiting")
    assert status == 200
    return next(c for c in body["cases"] if c["conversation_id"] == conversation_id)


@contextmanager
def queued_parent(servers, text: str):
    """A parent on socket.io who asked for a person and now waits, with their case."""
    parent = SocketParent(servers.url).connect()
    try:
        parent.say(text)
        replies = parent.replies()
        yield parent, waiting_case(servers, parent.session_id), replies
    finally:
        parent.close()


def transcript_texts(servers, case_id: int) -> list[str]:
    status, body = api(servers, "GET", f"/cases/{case_id}")
    assert status == 200
    return [m["text"] for m in body["transcript"]]


def test_parent_to_adviser_and_back(servers):
    with queued_parent(servers, "can i talk to someone please") as (parent, case, replies):
        assert "An adviser will join this chat" in " ".join(replies)

        status, _ = api(servers, "POST", f"/cases/{case['id']}/claim", body={})
        assert status == 200
        assert any("Sam, an adviser, has joined" in t for t in parent.replies())

        parent.say("hello is anyone there")
        assert parent.replies(wait=4) == [], "the bot stays silent while an adviser has the chat"
        assert "hello is anyone there" in transcript_texts(servers, case["id"])

        status, _ = api(
            servers, "POST", f"/cases/{case['id']}/messages", body={"text": "Hi, I'm Sam."}
        )
        assert status == 201
        assert parent.replies() == ["Sam (adviser): Hi, I'm Sam."]

        parent.say("my son needs help with his reading")
        assert parent.replies(wait=4) == []
        assert "my son needs help with his reading" in transcript_texts(servers, case["id"])

        status, body = api(
            servers, "POST", f"/cases/{case['id']}/close", body={"outcome": "talked it through"}
        )
        assert status == 200 and body["case"]["status"] == "closed"
        assert any("automated assistant again" in t for t in parent.replies())

        parent.say("what is a senco")
        assert any("Source: SEN Support guidance" in t for t in parent.replies())


def test_a_parent_can_leave_the_queue(servers):
    with queued_parent(servers, "i want to speak to an adviser") as (parent, case, _):
        parent.say("cancel")
        assert any("left the adviser chat" in t for t in parent.replies())
        status, body = api(servers, "GET", f"/cases/{case['id']}")
        assert body["case"]["status"] == "closed"
        parent.say("what is a senco")
        assert any("Source: SEN Support guidance" in t for t in parent.replies())


def test_another_adviser_must_take_over_explicitly(servers):
    with queued_parent(servers, "can i talk to a person") as (_, case, _replies):
        assert api(servers, "POST", f"/cases/{case['id']}/claim", body={})[0] == 200
        status, body = api(servers, "POST", f"/cases/{case['id']}/claim", "alex", body={})
        assert status == 409 and "take it over" in body["error"]
        status, _ = api(
            servers, "POST", f"/cases/{case['id']}/messages", "alex", body={"text": "hi"}
        )
        assert status == 403
        status, body = api(
            servers, "POST", f"/cases/{case['id']}/claim", "alex", body={"take_over": True}
        )
        assert status == 200 and body["case"]["adviser"] == "alex"


def test_restarting_the_servers_mid_hand_off_loses_nothing(servers):
    with queued_parent(servers, "can i talk to someone") as (parent, case, _):
        api(servers, "POST", f"/cases/{case['id']}/claim", body={})
        api(servers, "POST", f"/cases/{case['id']}/messages", body={"text": "Tell me more."})
        parent.say("he is in year 4 and struggling")
        parent.replies(wait=3)
        token = parent.token

    servers.stop()
    time.sleep(1)
    servers.start()

    status, body = api(servers, "GET", f"/cases/{case['id']}")
    assert body["case"]["status"] == "live" and body["case"]["adviser"] == "sam"
    texts = [m["text"] for m in body["transcript"]]
    assert "he is in year 4 and struggling" in texts
    assert "Sam (adviser): Tell me more." in texts

    parent = SocketParent(servers.url, token=token).connect()
    assert parent.session_id == body["case"]["conversation_id"] and not parent.new
    # What the widget shows after a reload: the whole conversation, the adviser marked as such.
    shown = [(m["from"], m["text"]) for m in parent.history]
    assert ("adviser", "Tell me more.") in shown
    assert ("parent", "he is in year 4 and struggling") in shown
    try:
        parent.say("are you still there")
        assert parent.replies(wait=4) == [], "still paused after the restart"
        assert "are you still there" in transcript_texts(servers, case["id"])
    finally:
        parent.close()
