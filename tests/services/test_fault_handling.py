"""Fault handling without a Rasa server: the cuttable TCP proxy, the channels' polite reply when
Rasa says nothing or fails (bot.channels.trouble), and the tracker store riding out a PostgreSQL
outage and failing loudly after one (bot.production.tracker_store, on the local PostgreSQL through
the proxy).
tests/servers/test_faults.py does the same end to end."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    SessionStarted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels.trouble import TROUBLE_BUTTONS, TROUBLE_REPLY, handle_or_apologise
from tests.helpers.ports import free_port
from tests.helpers.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


# --- the proxy -------------------------------------------------------------------------------
@pytest.fixture
def echo_port():
    """A plain echo server on a free port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(connection,), daemon=True).start()

    def echo(connection: socket.socket) -> None:
        with connection:
            while data := connection.recv(4096):
                connection.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def _talk(port: int) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(b"ping")
    assert client.recv(4) == b"ping"
    return client


def test_the_proxy_forwards_cuts_every_connection_refuses_new_ones_and_restores(echo_port):
    proxy_port = free_port()
    with TcpProxy(proxy_port, echo_port) as proxy:
        client = _talk(proxy_port)
        proxy.cut()
        assert proxy.is_cut
        try:
            ended = client.recv(4) == b""
        except ConnectionResetError:
            ended = True
        assert ended, "an open connection survived the cut"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy_port), timeout=5)
        proxy.restore()
        _talk(proxy_port).close()
        assert proxy.connections == 2


# --- the polite reply ------------------------------------------------------------------------
class Store:
    def __init__(self, tracker: Any = None, fail: bool = False) -> None:
        self.tracker, self.fail = tracker, fail

    async def retrieve(self, sender_id: str) -> Any:
        if self.fail:
            raise RuntimeError("database down")
        return self.tracker


def app_with(store: Store) -> Any:
    return SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(tracker_store=store)))


def tracker(*events: Any) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("parent-1", [SessionStarted(), *events])


def handle(app: Any, rasa: Any, **options: Any) -> tuple[bool, list[dict]]:
    output = CollectingOutputChannel()
    message = UserMessage("what is a senco", output, "parent-1")
    handled = asyncio.run(handle_or_apologise(app, message, rasa, **options))
    return handled, output.messages


async def silent(message: UserMessage) -> None:
    """Rasa with the action server down: the action failed, nothing was sent."""


async def answers(message: UserMessage) -> None:
    await message.output_channel.send_response(message.sender_id, {"text": "A SENCo is…"})


async def fails(message: UserMessage) -> None:
    raise ConnectionError("Redis could not be reached")


def test_rasa_saying_nothing_gets_the_polite_reply_with_the_adviser_button():
    handled, sent = handle(app_with(Store(tracker(UserUttered("hi")))), silent)
    assert not handled
    assert [m["text"] for m in sent] == [TROUBLE_REPLY]
    assert sent[0]["buttons"] == TROUBLE_BUTTONS
    assert "try again" in TROUBLE_REPLY and "999" in TROUBLE_REPLY
    assert not any(ch.isdigit() for ch in TROUBLE_REPLY.replace("999", "")), "no invented number"


def test_an_answer_gets_no_extra_reply():
    assert handle(app_with(Store()), answers) == (True, [{"recipient_id": "parent-1", "text":
                                                            "A SENCo is…"}])  # fmt: skip


def test_a_conversation_with_an_adviser_stays_silent():
    paused = tracker(UserUttered("hi"), ConversationPaused(), UserUttered("are you there"))
    assert handle(app_with(Store(paused)), silent) == (True, [])


def test_an_unreadable_tracker_counts_as_not_paused():
    handled, sent = handle(app_with(Store(fail=True)), silent)
    assert not handled and [m["text"] for m in sent] == [TROUBLE_REPLY]


def test_an_error_gets_the_polite_reply_and_is_raised_only_when_asked(caplog):
    assert [m["text"] for m in handle(app_with(Store()), fails)[1]] == [TROUBLE_REPLY]
    with pytest.raises(ConnectionError):
        handle(app_with(Store()), fails, reraise=True)
    output = CollectingOutputChannel()
    message = UserMessage("hi", output, "parent-1")
    with pytest.raises(ConnectionError):
        asyncio.run(
            handle_or_apologise(
                app_with(Store()), message, fails, reraise=True, apologise_on_error=False
            )
        )
    assert output.messages == [], "the channel's own note is left to the channel"


# --- the tracker store through a PostgreSQL outage -------------------------------------------
@pytest.fixture(scope="module")
def postgres_proxy():
    with TcpProxy(free_port(), 5432) as proxy:
        yield proxy


@pytest.fixture
def store(postgres_proxy, tmp_path, monkeypatch):
    from bot.production.tracker_store import ResilientSQLTrackerStore

    monkeypatch.setenv("SEN_DATA_DIR", str(tmp_path))
    name = f"sen_faults_unit_{secrets.token_hex(4)}"
    store = ResilientSQLTrackerStore(
        domain=Domain.load(str(ROOT / "domain.yml")), dialect="postgresql", host="127.0.0.1",
        port=postgres_proxy.port, db=name, username="postgres", login_db="postgres",
        retry_seconds=3,
    )  # fmt: skip
    store.data_dir, store.db_name = tmp_path, name
    yield store
    postgres_proxy.restore()
    store.engine.dispose()
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def stored_texts(store) -> list[str]:
    engine = sa.create_engine(f"postgresql://postgres@127.0.0.1:5432/{store.db_name}")
    with engine.connect() as db:
        rows = db.execute(sa.text("SELECT type_name, data FROM events ORDER BY id")).all()
    engine.dispose()
    import json

    return [json.loads(data).get("text") for kind, data in rows if kind in ("user", "bot")]


def turn(conversation: DialogueStateTracker, question: str, answer: str) -> None:
    conversation.update(UserUttered(question))
    conversation.update(ActionExecuted("action_answer"))
    conversation.update(BotUttered(answer))
    conversation.update(ActionExecuted("action_listen"))


def cut_for(proxy: TcpProxy, seconds: float) -> threading.Thread:
    proxy.cut()
    timer = threading.Timer(seconds, proxy.restore)
    timer.start()
    return timer


def test_a_short_outage_loses_nothing_and_keeps_the_order(store, postgres_proxy, caplog):
    conversation = tracker()
    turn(conversation, "first", "answer 1")
    asyncio.run(store.save(conversation))  # the pool now holds a connection the cut will kill
    turn(conversation, "second", "answer 2")
    cut_for(postgres_proxy, 1.5).join(0)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "bot.production.tracker_store"):
        asyncio.run(store.save(conversation))
    assert time.monotonic() - started >= 1.0, "the save did not wait for the database"
    assert any("trying again" in r.getMessage() for r in caplog.records)
    turn(conversation, "third", "answer 3")
    asyncio.run(store.save(conversation))
    assert stored_texts(store) == ["first", "answer 1", "second", "answer 2", "third", "answer 3"]
    read = asyncio.run(store.retrieve("parent-1"))
    assert [e.text for e in read.events if isinstance(e, (UserUttered, BotUttered))][-1] == (
        "answer 3"
    )


def test_a_long_outage_is_reported_loudly_and_rasas_memory_fallback_is_detected(
    store, postgres_proxy, caplog
):
    from bot.production.tracker_store import (
        FALLBACK,
        NOT_READ,
        NOT_SAVED,
        TrackerNotRead,
        fault_counts,
    )

    fail_safe = FailSafeTrackerStore(store)  # as Rasa's Agent wraps every tracker store
    conversation = tracker()
    turn(conversation, "first", "answer 1")
    asyncio.run(fail_safe.save(conversation))
    turn(conversation, "second", "answer 2")
    postgres_proxy.cut()
    with caplog.at_level(logging.ERROR):
        asyncio.run(fail_safe.save(conversation))  # gives up after 3 s; Rasa keeps it in memory
        with pytest.raises(TrackerNotRead):  # not "no tracker": Rasa must not start afresh
            asyncio.run(fail_safe.retrieve("parent-1"))
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(m.startswith(NOT_SAVED) and "parent-1" in m for m in messages)
    assert any(m.startswith(FALLBACK) for m in messages)
    assert any(m.startswith(NOT_READ) for m in messages)
    assert fault_counts(store.data_dir) == {"not_saved": 1, "not_read": 1, "fallback": 1}
    # What that means: the turn lives only in Rasa's memory, which nothing reads back.
    assert asyncio.run(fail_safe.fallback_tracker_store.retrieve("parent-1")) is not None
    postgres_proxy.restore()
    assert stored_texts(store) == ["first", "answer 1"], "the second turn is not in PostgreSQL"
    # The next message, as Rasa handles it: the tracker is read back from PostgreSQL, without
    # the second turn, so that turn stays lost; the conversation goes on without a gap in order.
    after = asyncio.run(fail_safe.retrieve("parent-1"))
    turn(after, "third", "answer 3")
    asyncio.run(fail_safe.save(after))
    assert stored_texts(store) == ["first", "answer 1", "third", "answer 3"]


def test_a_tripped_circuit_breaker_ends_the_turn_so_the_conversation_can_recover():
    """Every action failing (action server down) trips Rasa's circuit breaker; without an
    action_listen the next message would trip it again at once, for good."""
    processor = SimpleNamespace(on_circuit_break=None)
    app = app_with(Store(tracker(UserUttered("hi"))))
    app.ctx.agent.processor = processor
    handle(app, silent)
    broken = tracker(UserUttered("hi"), *[ActionExecuted("action_answer")] * 10)
    processor.on_circuit_break(broken, None, None)
    assert broken.latest_action_name == "action_listen"
