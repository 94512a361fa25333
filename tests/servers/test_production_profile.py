"""The production profile against the real local services: PostgreSQL (tracker store, cases,
events), Redis (lock store) and RabbitMQ (event broker, emptied into PostgreSQL by
``bot.production.broker_consumer``). Each run uses its own databases, Redis database and queue."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.cases.store import CaseStore
from bot.contract import Status
from bot.ops.servers import ROOT, Servers, die_with_parent, rasa_env
from bot.production.profile import ensure_database
from tests.helpers.ports import free_ports
from tests.helpers.production import clean_up, events, run_profile, wait_until
from tests.helpers.socketio_parent import SocketParent

MODEL = ROOT / "models" / "sen-assistant.tar.gz"
PORTS = free_ports(3)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    assert MODEL.exists(), "Train first: `make train` (make test does this)."
    profile = run_profile("sen_test", redis_db=7)
    ensure_database(profile.postgres_url)
    data_dir = tmp_path_factory.mktemp("production")
    env = {**profile.service_env(), "SEN_OPENING_HOURS": "Mon-Sun 00:00-23:59"}
    endpoints = profile.write_endpoints(data_dir, f"http://127.0.0.1:{PORTS[1]}/webhook")
    consumer_log = (data_dir / "consumer.log").open("w")
    consumer_env = rasa_env({**env, "SEN_DATA_DIR": str(data_dir)})
    consumer_env.update(
        SEN_RABBITMQ_URL=profile.rabbitmq_url, SEN_RABBITMQ_QUEUE=profile.rabbitmq_queue
    )
    consumer = subprocess.Popen(
        [sys.executable, "-m", "bot.production.broker_consumer"], cwd=ROOT, env=consumer_env,
        stdout=consumer_log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
    )  # fmt: skip
    servers = Servers(MODEL, *PORTS, data_dir=data_dir, endpoints=endpoints, extra_env=env)
    servers.profile = profile
    servers.store = CaseStore(profile.postgres_url)
    servers.adviser_token = servers.store.add_adviser("sam", "Sam")
    try:
        with servers:
            yield servers
    finally:
        consumer.terminate()
        consumer.wait(20)
        clean_up(profile)


def tracker_rows(servers, conversation: str) -> list[dict]:
    return events(servers.profile.service_env()["SEN_TRACKER_DB_URL"], conversation)


def broker_rows(servers, conversation: str) -> list[dict]:
    return events(servers.profile.postgres_url, conversation)


def test_rasa_runs_on_postgresql_redis_and_rabbitmq(production):
    parent = SocketParent(production.url).connect()
    try:
        parent.messages()
        parent.say("what does a senco do")
        answer = parent.messages()[-1]
    finally:
        parent.close()
    assert "Source: SEN Support guidance" in answer["text"]
    # The tracker store is PostgreSQL ...
    events = tracker_rows(production, parent.session_id)
    assert any(e.get("event") == "user" and e.get("text") == "what does a senco do" for e in events)
    # ... and every event reached PostgreSQL through RabbitMQ and the consumer, in order.
    copied = wait_until(
        lambda: [e for e in broker_rows(production, parent.session_id) if e.get("event") == "bot"],
        what="the events' arrival through RabbitMQ",
    )
    assert copied[-1]["text"] == answer["text"]


def test_messages_sent_at_once_in_one_conversation_are_handled_in_order_none_lost(production):
    parent = SocketParent(production.url).connect()
    questions = [
        "what is sen support",
        "who is the senco",
        "what is an iep",
        "what is the graduated approach",
        "what does an ep do",
    ]
    try:
        parent.messages()
        for question in questions:  # no waiting between them
            parent.say(question)
        wait_until(lambda: parent.acks.qsize() == len(questions), 60, "all acknowledgements")
    finally:
        parent.close()
    events = tracker_rows(production, parent.session_id)
    said = [e["text"] for e in events if e.get("event") == "user"]
    assert sorted(said) == sorted(questions), "a message was lost or doubled"
    # One at a time: each parent message is followed by its answer before the next one starts.
    kinds = [e["event"] for e in events if e.get("event") in ("user", "bot")]
    assert kinds[-2 * len(questions) :] == ["user", "bot"] * len(questions)


def test_leaving_the_queue_works_through_rabbitmq(production):
    production.store.set_available("sam", True)
    parent = SocketParent(production.url).connect()
    try:
        parent.messages()
        parent.say("can i talk to a person please")
        assert any("An adviser will join" in t for t in parent.replies())
        case = wait_until(
            lambda: production.store.open_case_for(parent.session_id), what="the case"
        )
        parent.say("cancel")
        wait_until(
            lambda: production.store.get(case.id).status is Status.CLOSED,
            30,
            "the hand-off watcher closing the case from events read in PostgreSQL",
        )
    finally:
        parent.close()
        production.store.set_available("sam", False)
