"""Faults, end to end, on the production profile: a real Rasa server and action server whose
PostgreSQL (tracker store), Redis (lock store, socket.io rooms) and RabbitMQ (event broker) are
reached through cuttable proxies (tests/helpers/tcp_proxy.py). The machine's services themselves are
never stopped: other tests use them at the same time. Each run has its own databases and queue.

- the action server stops: the parent gets the polite trouble reply, and answers when it is back;
- PostgreSQL restarts for 3 s mid-conversation: nothing is lost, the order is kept;
- PostgreSQL is away longer than the retry budget (6 s here): the message is refused loudly
  (``TRACKER NOT READ`` in Rasa's log, counted), the parent gets the trouble reply, PostgreSQL
  keeps the conversation as it was, and it goes on afterwards;
- Redis is away: the message is not handled (no lock), nothing of it is saved, REST gets the
  trouble reply and the widget's page "not sent";
- RabbitMQ is away: the conversation goes on, and every event reaches PostgreSQL's events table
  through bot.production.broker_consumer once it is back.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time

import pytest
import requests

from bot.channels.trouble import TROUBLE_REPLY
from bot.ops.servers import ROOT, Servers, die_with_parent, rasa_env, wait_for
from bot.production.profile import ensure_database
from bot.production.tracker_store import NOT_READ, fault_counts
from tests.helpers.ports import free_ports
from tests.helpers.production import clean_up, events, run_profile, wait_until
from tests.helpers.socketio_parent import SocketParent
from tests.helpers.tcp_proxy import TcpProxy

MODEL = ROOT / "models" / "sen-assistant.tar.gz"
RASA_PORT, ACTIONS_PORT = free_ports(2)
POSTGRES_PROXY, REDIS_PROXY, RABBITMQ_PROXY = free_ports(3)
RETRY_SECONDS = 6
ANSWER = "Source: SEN Support guidance"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rasa(tmp_path_factory):
    assert MODEL.exists(), "Train first: `make train` (make test does this)."
    profile = run_profile("sen_faults", redis_db=9)
    run = profile.rabbitmq_queue.rsplit("_", 1)[1]
    # Rasa reaches all three services through the proxies; the consumer, the cases and the test
    # itself reach them directly.
    proxied = dataclasses.replace(
        profile,
        postgres_url=f"postgresql://postgres@127.0.0.1:{POSTGRES_PROXY}/sen_faults_{run}",
        redis_url=f"redis://127.0.0.1:{REDIS_PROXY}/9",
        rabbitmq_url=f"amqp://guest:guest@127.0.0.1:{RABBITMQ_PROXY}/",
    )
    proxies = {
        "postgres": TcpProxy(POSTGRES_PROXY, 5432).start(),
        "redis": TcpProxy(REDIS_PROXY, 6379).start(),
        "rabbitmq": TcpProxy(RABBITMQ_PROXY, 5672).start(),
    }
    ensure_database(profile.postgres_url)
    data_dir = tmp_path_factory.mktemp("faults")
    env = {
        **profile.service_env(),
        "SEN_SOCKETIO_REDIS_URL": proxied.redis_url,  # the same Redis as the lock store
        "SEN_LIMITS_REDIS_URL": proxied.redis_url,
        "SEN_TRACKER_RETRY_SECONDS": str(RETRY_SECONDS),
        "SEN_RATE_LIMIT": "off",
    }
    endpoints = proxied.write_endpoints(data_dir, f"http://127.0.0.1:{ACTIONS_PORT}/webhook")
    consumer_log = (data_dir / "consumer.log").open("w")
    consumer = subprocess.Popen(
        [sys.executable, "-m", "bot.production.broker_consumer"], cwd=ROOT,
        env=rasa_env({**env, "SEN_DATA_DIR": str(data_dir)}), stdout=consumer_log,
        stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
    )  # fmt: skip
    servers = Servers(
        MODEL, RASA_PORT, ACTIONS_PORT, adviser_port=None, data_dir=data_dir,
        endpoints=endpoints, log_dir=data_dir / "logs", extra_env=env,
    )  # fmt: skip
    servers.profile, servers.proxies = profile, proxies
    try:
        with servers:
            yield servers
    finally:
        consumer.terminate()
        consumer.wait(20)
        for proxy in proxies.values():
            proxy.stop()
        clean_up(profile)


class RestParent:
    """A parent on the REST channel (server-issued sender and token)."""

    def __init__(self, url: str) -> None:
        self.url = url
        session = requests.post(f"{url}/webhooks/rest/session", timeout=10).json()
        self.sender, self.token = session["sender"], session["token"]

    def say(self, text: str) -> list[str]:
        body = {"sender": self.sender, "token": self.token, "message": text}
        reply = requests.post(f"{self.url}/webhooks/rest/webhook", json=body, timeout=60)
        assert reply.status_code == 200, reply.text
        return [m.get("text", "") for m in reply.json()]


def trackerevents(rasa, conversation: str) -> list[dict]:
    return events(rasa.profile.service_env()["SEN_TRACKER_DB_URL"], conversation)


def said(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["event"], e.get("text") or "") for e in events if e.get("event") in ("user", "bot")]


def parent_said(events: list[dict]) -> list[str]:
    return [text for kind, text in said(events) if kind == "user"]


def rasa_log(rasa) -> str:
    return (rasa.log_dir / "rasa.log").read_text()


# --- the action server -----------------------------------------------------------------------
def test_with_the_action_server_down_the_parent_is_answered_politely_until_it_is_back(rasa):
    widget = SocketParent(rasa.url).connect()
    rest = RestParent(rasa.url)
    try:
        widget.messages()  # the introduction (an action, so the action server must be up)
        actions = rasa.processes[0]
        actions.terminate()
        actions.wait(20)

        assert rest.say("what does a senco do") == [TROUBLE_REPLY]
        widget.say("what does a senco do")
        assert widget.replies() == [TROUBLE_REPLY]
        assert widget.acks.get(timeout=10) == {"ok": True}  # the message itself was received

        log_path = rasa.log_dir / "actions-again.log"
        log = log_path.open("w")
        again = subprocess.Popen(
            [sys.executable, "-m", "actions.server", "--port", str(ACTIONS_PORT)], cwd=ROOT,
            env=rasa_env({"SEN_DATA_DIR": str(rasa.data_dir), **rasa.extra_env,
                          "SEN_ACTIONS_SECRET": rasa.actions_secret}), stdout=log,
            stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
        )  # fmt: skip
        rasa.processes[0] = again  # stopped with the others
        wait_for(f"http://127.0.0.1:{ACTIONS_PORT}/health", 120, again, log_path)

        replies = rest.say("what does a senco do")
        assert any(ANSWER in text for text in replies), replies
        widget.say("what is sen support")
        replies = widget.replies()
        assert any(ANSWER in text for text in replies), replies
    finally:
        widget.close()
    # The parent's messages were kept meanwhile (the trouble reply is sent, not recorded).
    assert parent_said(trackerevents(rasa, rest.sender)) == ["what does a senco do"] * 2


# --- PostgreSQL ------------------------------------------------------------------------------
def test_a_postgresql_restart_mid_conversation_loses_no_message_and_keeps_the_order(rasa):
    proxy = rasa.proxies["postgres"]
    parent = RestParent(rasa.url)
    questions = ["what does a senco do", "what is sen support", "what is the graduated approach"]
    assert any(ANSWER in t for t in parent.say(questions[0]))
    proxy.cut()  # PostgreSQL "restarting": every connection dropped, new ones refused
    threading.Timer(3, proxy.restore).start()
    started = time.monotonic()
    assert any(ANSWER in t for t in parent.say(questions[1]))  # waited for it, then answered
    assert time.monotonic() - started >= 2
    assert any(ANSWER in t for t in parent.say(questions[2]))
    events = trackerevents(rasa, parent.sender)
    assert parent_said(events) == questions
    kinds = [kind for kind, _ in said(events)]
    assert kinds[-6:] == ["user", "bot"] * 3, "an answer is missing or out of order"
    assert "could not read a tracker" in rasa_log(rasa)  # the retries did happen


def test_a_postgresql_outage_longer_than_the_retry_budget_is_reported_and_nothing_is_mangled(
    rasa,
):
    proxy = rasa.proxies["postgres"]
    parent = RestParent(rasa.url)
    assert any(ANSWER in t for t in parent.say("what does a senco do"))
    before = trackerevents(rasa, parent.sender)
    faults_before = fault_counts(rasa.data_dir)["not_read"]
    proxy.cut()
    try:
        started = time.monotonic()
        reply = parent.say("what is sen support")
        waited = time.monotonic() - started
    finally:
        proxy.restore()
    # The parent: the trouble reply after the retry budget, not an answer from a blank slate.
    assert reply == [TROUBLE_REPLY]
    assert RETRY_SECONDS - 1 <= waited <= RETRY_SECONDS + 15
    # Operations: a loud line in Rasa's log and a count.
    assert f"{NOT_READ}: conversation {parent.sender} could not be read" in rasa_log(rasa)
    assert fault_counts(rasa.data_dir)["not_read"] == faults_before + 1
    # PostgreSQL: the conversation exactly as it was; the refused message is not in it.
    assert trackerevents(rasa, parent.sender) == before
    # And it goes on, with its history (the session did not start again).
    assert any(ANSWER in t for t in parent.say("what is the graduated approach"))
    events = trackerevents(rasa, parent.sender)
    assert parent_said(events) == ["what does a senco do", "what is the graduated approach"]
    assert [e["event"] for e in events].count("session_started") == 1


# --- Redis -----------------------------------------------------------------------------------
def test_with_redis_down_a_message_is_refused_politely_and_nothing_of_it_is_saved(rasa):
    proxy = rasa.proxies["redis"]
    parent = RestParent(rasa.url)
    widget = SocketParent(rasa.url).connect()
    try:
        widget.messages()
        assert any(ANSWER in t for t in parent.say("what does a senco do"))
        before = trackerevents(rasa, parent.sender)
        proxy.cut()
        try:
            assert parent.say("what is sen support") == [TROUBLE_REPLY]
            widget.say("what is sen support")
            # socket.io's rooms live in Redis too, so no reply can reach the page; the
            # acknowledgement does, and the page marks the message "not sent".
            assert widget.acks.get(timeout=30) == {"ok": False, "error": "server"}
        finally:
            proxy.restore()
        assert trackerevents(rasa, parent.sender) == before, "half of the message was saved"
        assert parent_said(trackerevents(rasa, widget.session_id)) == []
        assert any(ANSWER in t for t in parent.say("what is the graduated approach"))
    finally:
        widget.close()


# --- RabbitMQ --------------------------------------------------------------------------------
def test_with_rabbitmq_down_the_conversation_goes_on_and_every_event_arrives_later(rasa):
    proxy = rasa.proxies["rabbitmq"]
    parent = RestParent(rasa.url)
    proxy.cut()
    try:
        for question in ("what does a senco do", "what is sen support"):
            assert any(ANSWER in t for t in parent.say(question))
        time.sleep(2)
        copied = events(rasa.profile.postgres_url, parent.sender)
        assert copied == [], "an event got through while RabbitMQ was away"
    finally:
        proxy.restore()
    stored = trackerevents(rasa, parent.sender)

    def all_copied() -> list[dict]:
        copied = events(rasa.profile.postgres_url, parent.sender)
        return copied if len(copied) >= len(stored) else []

    copied = wait_until(all_copied, 90, "the events' arrival after RabbitMQ came back")
    key = lambda e: (e["event"], e.get("timestamp"), e.get("text"))  # noqa: E731
    assert sorted(map(key, copied)) == sorted(map(key, stored)), "lost or doubled events"
