"""bot.plugins.rasa_run's changes to how Rasa talks to the action server: it checks the replies
with the same verdicts and errors as Rasa's own check, without checking Rasa's constant schema
again for every reply, and it sends the action server's shared secret with every call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot.ops.servers import rasa_env
from bot.plugins import rasa_run

ROOT = Path(__file__).resolve().parents[2]

GOOD_REPLIES = [
    {"events": [], "responses": []},
    {
        "events": [
            {"event": "slot", "name": "route", "value": "answer", "timestamp": None},
            {"event": "followup", "name": "action_listen"},
        ],
        "responses": [{"text": "A SENCo is ...", "buttons": [{"title": "EHCP", "payload": "x"}]}],
    },
    {},  # Rasa's schema requires neither key
]
BAD_REPLIES = [
    {"events": "not a list", "responses": []},
    {"events": [{"no_event_key": 1}], "responses": []},
    {"events": [], "responses": ["a bare string, not an object"]},
    ["not", "an", "object"],
]


@pytest.fixture
def action() -> RemoteAction:
    rasa_validate = RemoteAction._validate_action_result
    rasa_run._check_action_schema_once()
    yield RemoteAction("action_answer", EndpointConfig("http://127.0.0.1:1/webhook"))
    RemoteAction._validate_action_result = rasa_validate


def rasa_verdict(reply: object) -> str | None:
    """What Rasa's own check (jsonschema.validate on its schema) says of a reply."""
    try:
        jsonschema.validate(reply, RemoteAction.action_response_format_spec())
    except ValidationError as error:
        return error.message
    return None


@pytest.mark.parametrize("reply", GOOD_REPLIES)
def test_a_valid_reply_is_accepted_as_rasa_accepts_it(action, reply):
    assert rasa_verdict(reply) is None
    assert action._validate_action_result(reply) is True


@pytest.mark.parametrize("reply", BAD_REPLIES)
def test_an_invalid_reply_raises_rasas_own_error(action, reply):
    expected = rasa_verdict(reply)
    assert expected is not None
    with pytest.raises(ValidationError) as raised:
        action._validate_action_result(reply)
    # Rasa's best-matching error, with Rasa's advice to the developer appended.
    assert raised.value.message.startswith(expected)
    assert "Failed to validate Action server response" in raised.value.message


def test_the_schema_is_checked_once_not_for_every_reply(action, monkeypatch):
    checked = []
    validator_class = jsonschema.validators.validator_for(
        RemoteAction.action_response_format_spec()
    )
    real_check = validator_class.check_schema
    monkeypatch.setattr(
        validator_class,
        "check_schema",
        classmethod(lambda cls, schema, **kw: checked.append(1) or real_check(schema, **kw)),
    )
    for _ in range(50):
        for reply in GOOD_REPLIES:
            action._validate_action_result(reply)
    assert checked == []


def test_installing_twice_wraps_once(action):
    first = RemoteAction._validate_action_result
    rasa_run._check_action_schema_once()
    assert RemoteAction._validate_action_result is first


def test_a_bearer_jwt_must_carry_an_expiry_that_has_not_passed():
    import jwt

    from bot.plugins.rasa_run import bearer_token, unexpired

    def token(**claims):
        return jwt.encode({"user": {"username": "x"}, **claims}, "s" * 32, algorithm="HS256")

    assert unexpired(token(exp=1_000_300), now=1_000_000)
    assert not unexpired(token(exp=999_990), now=1_000_000), "no leeway"
    assert not unexpired(token(), now=1_000_000), "no expiry"
    assert not unexpired(token(exp="soon"), now=1_000_000)
    assert unexpired("not a jwt"), "left to sanic-jwt, which refuses it"
    assert bearer_token("Bearer abc") == "abc" and bearer_token("Basic abc") is None
    assert bearer_token(None) is None


# --- the action server's shared secret ---------------------------------------------------------
@pytest.fixture
def sending_secret():
    from rasa.core.utils import AvailableEndpoints

    rasa_read = AvailableEndpoints.__dict__["read_endpoints"]
    rasa_run._send_actions_secret("the-shared-secret")
    yield
    AvailableEndpoints.read_endpoints = rasa_read


def endpoint_files(tmp_path):
    from bot.ops.servers import write_endpoints
    from bot.production.profile import ProductionProfile

    url = "http://127.0.0.1:5055/webhook"
    yield ROOT / "endpoints.yml"  # make run, make shell
    yield write_endpoints(tmp_path, 5055, tmp_path)  # the server tests, the benchmark
    yield ProductionProfile.from_env({}).write_endpoints(tmp_path, url)  # cluster, Procfile


def test_every_endpoints_file_has_rasa_send_the_action_server_its_secret(sending_secret, tmp_path):
    """The action server refuses calls without the secret: whichever endpoints file Rasa is
    started with, its calls to the action server carry it (and the file holds no secret)."""
    from rasa.core.utils import AvailableEndpoints

    from bot.contract import ACTIONS_SECRET_HEADER

    for path in endpoint_files(tmp_path):
        assert "the-shared-secret" not in path.read_text()
        action = AvailableEndpoints.read_endpoints(str(path)).action
        assert action.headers == {ACTIONS_SECRET_HEADER: "the-shared-secret"}, path
        assert not action.token, "a token would go in the URL (and access logs)"
    rasa_run._send_actions_secret("another")  # installed once: the first secret stays
    action = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml")).action
    assert action.headers[ACTIONS_SECRET_HEADER] == "the-shared-secret"


def test_the_action_server_will_not_listen_off_loopback_without_a_given_secret(tmp_path):
    """Off loopback, Rasa runs elsewhere and can't share a secret made in this data folder."""
    env = rasa_env({"SEN_DATA_DIR": str(tmp_path)})
    env.pop("SEN_ACTIONS_SECRET", None)
    command = [sys.executable, "-m", "actions.server", "--host", "0.0.0.0", "--port", "1"]
    ended = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert ended.returncode == 1
    assert "set SEN_ACTIONS_SECRET" in ended.stderr


def test_a_message_being_read_does_not_hold_up_the_event_loop():
    """Reading one parent's long message (the NLU graph) runs in a thread: meanwhile the event
    loop goes on serving everyone else. Before, Rasa ran the graph inline and nothing else ran
    until it finished."""
    import asyncio
    import threading

    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    rasa_run._parse_off_the_event_loop()
    started, release = threading.Event(), threading.Event()
    seen_threads = []

    class Reading:
        http_interpreter = None

        def _parse_message_with_graph(self, message, tracker, only_output_properties=True):
            seen_threads.append(threading.current_thread().name)
            started.set()
            assert release.wait(5), "the event loop never ran while the message was read"
            return {"text": message.text, "intent": {"name": "greet", "confidence": 1.0}}

        def _update_full_retrieval_intent(self, parse_data):
            pass

        def _check_for_unseen_features(self, parse_data):
            pass

    async def scenario():
        reading = asyncio.ensure_future(
            MessageProcessor.parse_message(Reading(), UserMessage("a long message", sender_id="a"))
        )
        while not started.is_set():
            await asyncio.sleep(0.01)
        release.set()  # only reachable if the loop is free while the graph runs
        return await reading

    parse_data = asyncio.run(scenario())
    assert parse_data["intent"]["name"] == "greet"
    assert seen_threads and seen_threads[0].startswith("sen-nlu")


def test_the_encoder_cache_is_safe_to_share_between_threads():
    from concurrent.futures import ThreadPoolExecutor

    from bot.assistant.embeddings import RECENT_TEXTS, SentenceEncoder

    encoder = SentenceEncoder.__new__(SentenceEncoder)
    import collections
    import threading

    import numpy as np

    encoder._recent = collections.OrderedDict()
    encoder._lock = threading.Lock()
    encoder._compute = lambda texts, batch_size: np.ones((len(texts), 384), np.float32)
    texts = [f"message {i}" for i in range(RECENT_TEXTS * 4)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: encoder.encode(texts[i : i + 40]), range(0, 900, 3)))
    assert all(r.shape[1] == 384 and (r == 1).all() for r in results)
    assert len(encoder._recent) <= RECENT_TEXTS


def test_rasa_keeps_its_sqlite_connections_and_commits_without_waiting_for_the_disk(
    tmp_path, monkeypatch
):
    """Rasa's SQL event broker commits every event on its own: with SQLite's defaults each
    commit waited for the disk, and each session opened and closed a connection."""
    import sqlalchemy
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import SingletonThreadPool

    monkeypatch.setattr(sqlalchemy, "create_engine", sqlalchemy.create_engine)
    try:
        rasa_run._sqlite_without_waiting_for_the_disk()
        engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'events.db'}")
        assert isinstance(engine.pool, SingletonThreadPool)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE events (data TEXT)")
            connection.exec_driver_sql("INSERT INTO events VALUES ('hello')")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        engine.dispose()
        # Another process (the hand-off watcher) reads what was committed.
        import sqlite3

        reader = sqlite3.connect(tmp_path / "events.db")
        assert reader.execute("SELECT data FROM events").fetchall() == [("hello",)]
        reader.close()
    finally:
        if event.contains(Engine, "connect", rasa_run._on_sqlite_connect):
            event.remove(Engine, "connect", rasa_run._on_sqlite_connect)


def test_a_refused_api_call_is_a_warning_and_a_failure_of_ours_an_error(caplog) -> None:
    # Every refused call (401 without a JWT, 404, 400) was logged at ERROR by Rasa's
    # ErrorResponse, so anyone could fill the log with ERRORs.
    from rasa import server

    from bot.plugins import rasa_run

    original = server.ErrorResponse.__init__
    try:
        rasa_run._refused_calls_are_warnings()
        with caplog.at_level("INFO", logger="rasa.server"):
            refused = server.ErrorResponse(401, "NotAuthenticated", "User is not authenticated.")
            failed = server.ErrorResponse(500, "ConversationError", "An unexpected error.")
    finally:
        server.ErrorResponse.__init__ = original
    assert refused.status == 401 and refused.error_info["reason"] == "NotAuthenticated"
    assert failed.error_info["code"] == 500
    levels = {r.getMessage(): r.levelname for r in caplog.records if r.name == "rasa.server"}
    assert levels == {"User is not authenticated.": "WARNING", "An unexpected error.": "ERROR"}


def test_a_get_with_a_body_is_a_warning_not_an_error(caplog) -> None:
    # Rasa's GET routes ignore a body; Sanic then logged "<Request: GET /status> body not
    # consumed." at ERROR for each, so anyone could fill the log with ERRORs.
    import requests
    from sanic import Sanic, response

    from bot.web import quiet_refusals
    from tests.helpers.serving import serving

    app = Sanic("sen-get-with-a-body")

    @app.get("/status")
    async def status(_request):
        return response.json({"status": "ok"})

    quiet_refusals()  # as bot.plugins.rasa_run does
    with caplog.at_level("INFO"), serving(app) as url:
        assert requests.get(url + "/status", data=b'{"a": 1}', timeout=10).status_code == 200
        assert requests.get(url + "/status", timeout=10).status_code == 200  # after the first
    [unread] = [r for r in caplog.records if "body not consumed" in r.getMessage()]
    assert unread.levelname == "WARNING"
