"""The security rules, each checked against the real servers (Rasa, the action server and the
adviser API, started as `make run` starts them): a test per rule, which fails if it is broken.

- Rasa's HTTP API takes only a valid JWT in the Authorization header; no CORS origin is allowed.
- The action server (and every other server) can't be reached on a non-loopback address, and
  the action server runs nothing for a caller without the shared secret Rasa sends.
- The REST channel writes only into conversations the server issued to the caller.
- Bodies over 64 KB get 413; a conversation over its rate limit is told clearly to wait.
- Rasa's telemetry is off in the server's environment.
"""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jwt
import pytest

from bot.cases.rasa_client import api_jwt
from bot.cases.store import CaseStore
from bot.channels.limits import RATE_LIMITED_REPLY, SESSIONS_LIMITED_REPLY
from bot.contract import ACTIONS_SECRET_HEADER
from bot.ops.servers import Servers, rasa_env
from tests.helpers.ports import free_ports
from tests.helpers.socketio_parent import SocketParent

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "sen-assistant.tar.gz"
RASA_PORT, ACTIONS_PORT, ADVISER_PORT = free_ports(3)
RATE = 4  # messages per conversation per minute, for these servers
SESSIONS = 12  # new conversations per client address per minute, for these servers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    assert MODEL.exists(), "Train first: `make train` (make test does this)."
    data_dir = tmp_path_factory.mktemp("security-data")
    extra = {"SEN_RATE_LIMIT": f"{RATE}/60", "SEN_SESSION_LIMIT": f"{SESSIONS}/60"}
    with Servers(
        MODEL, RASA_PORT, ACTIONS_PORT, ADVISER_PORT, data_dir=data_dir, extra_env=extra,
        log_dir=tmp_path_factory.mktemp("security-logs"),
    ) as s:  # fmt: skip
        yield s


def request(
    servers, path: str, body: bytes | dict | None = None, headers: dict | None = None
) -> tuple[int, dict, object]:
    """(status, headers, JSON or text) for one request to Rasa."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    call = urllib.request.Request(
        servers.url + path,
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(call, timeout=30) as reply:
            status, got, raw = reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        status, got, raw = error.code, dict(error.headers), error.read()
    try:
        return status, got, json.loads(raw or b"null")
    except ValueError:
        return status, got, raw.decode(errors="replace")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rasa_process(servers) -> subprocess.Popen:
    [rasa] = [p for p in servers.processes if "bot.plugins.rasa_run" in p.args]
    return rasa


# --- the HTTP API: a JWT, and nothing else -----------------------------------------------------
def test_the_http_api_answers_a_valid_jwt(servers):
    status, _, body = request(servers, "/status", headers=servers.api_headers())
    assert status == 200 and "model_id" in body
    status, _, tracker = request(
        servers, "/conversations/nobody/tracker", headers=servers.api_headers()
    )
    assert status == 200 and tracker["sender_id"] == "nobody"


def test_the_http_api_refuses_a_request_without_a_jwt(servers):
    assert request(servers, "/status")[0] == 401
    assert request(servers, "/conversations/nobody/tracker")[0] == 401


def test_the_http_api_refuses_a_jwt_signed_with_another_secret(servers):
    forged = api_jwt("not-the-servers-secret-but-just-as-long!")
    assert request(servers, "/status", headers=bearer(forged))[0] == 401


def test_the_http_api_refuses_an_expired_jwt(servers):
    expired = api_jwt(servers.jwt_secret, now=time.time() - 3600)
    assert request(servers, "/status", headers=bearer(expired))[0] == 401


def test_the_http_api_refuses_an_unsigned_jwt(servers):
    claims = {"user": {"username": "x", "role": "admin"}, "exp": int(time.time()) + 300}
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    assert request(servers, "/status", headers=bearer(unsigned))[0] == 401


def test_a_token_in_the_query_string_no_longer_works(servers):
    for token in (servers.jwt_secret, api_jwt(servers.jwt_secret)):
        assert request(servers, f"/status?token={token}")[0] == 401
    stale = servers.data_dir / "rasa-api-token"  # what --auth-token used to be given
    if stale.exists():
        assert request(servers, f"/status?token={stale.read_text().strip()}")[0] == 401


def test_a_user_role_jwt_reaches_only_its_own_conversation(servers):
    claims = {"user": {"username": "alice", "role": "user"}, "exp": int(time.time()) + 300}
    alice = bearer(jwt.encode(claims, servers.jwt_secret, algorithm="HS256"))
    assert request(servers, "/conversations/alice/tracker", headers=alice)[0] == 200
    assert request(servers, "/conversations/bob/tracker", headers=alice)[0] == 403


def test_no_browser_origin_may_call_the_http_api(servers):
    origin = {"Origin": "https://evil.example", **servers.api_headers()}
    _, headers, _ = request(servers, "/status", headers=origin)
    assert not any(h.lower().startswith("access-control-allow") for h in headers), headers


def test_the_jwt_secret_is_not_on_rasas_command_line(servers):
    rasa = rasa_process(servers)
    command = Path(f"/proc/{rasa.pid}/cmdline").read_bytes().decode()
    assert servers.jwt_secret not in command
    assert "--auth-token" not in command and "--cors" not in command
    assert "--enable-api" in command


# --- listening on loopback only ----------------------------------------------------------------
def non_loopback_addresses() -> set[str]:
    """This machine's IPv4 addresses other than 127.x, from the routing table and `ip`."""
    found: set[str] = set()
    for target in ("192.0.2.1", "10.255.255.255", "8.8.8.8"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((target, 9))  # UDP: picks a source address, sends nothing
                found.add(probe.getsockname()[0])
            except OSError:
                pass
    try:
        listing = subprocess.run(
            ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, timeout=10
        ).stdout
        found.update(line.split()[3].split("/")[0] for line in listing.splitlines())
    except (OSError, IndexError, subprocess.SubprocessError):
        pass
    return {address for address in found if not address.startswith("127.")}


def connect_error(address: str, port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(3)
        return probe.connect_ex((address, port))


def test_the_action_server_and_the_others_cannot_be_reached_off_loopback(servers):
    addresses = non_loopback_addresses()
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    for port in (ACTIONS_PORT, RASA_PORT, ADVISER_PORT):
        assert connect_error("127.0.0.1", port) == 0, "the server is up on loopback"
        for address in addresses:
            assert connect_error(address, port) == errno.ECONNREFUSED, (address, port)


# --- the action server: only for Rasa, which sends the shared secret ----------------------------
def callback_action_call(sender: str) -> dict:
    """The body Rasa itself posts to the action server (RemoteAction's own format, Rasa's
    tracker and our domain) to store a consented call-back request for ``sender``."""
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    slots = {
        "callback_contact": "07700900123",
        "callback_time": "after 3pm",
        "callback_name": "Jo",
        "callback_consent": True,
    }
    events = [
        ActionExecuted("action_listen"),
        UserUttered("yes", {"name": "affirm", "confidence": 0.97}),
        *[SlotSet(name, value) for name, value in slots.items()],
    ]
    tracker = DialogueStateTracker.from_events(sender, events, domain.slots)
    return RemoteAction("action_submit_callback", None)._action_call_format(tracker, domain)


def call_actions(path: str, body: dict | None, headers: dict | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(
        f"http://127.0.0.1:{ACTIONS_PORT}{path}",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(call, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_the_action_server_runs_nothing_for_a_caller_without_the_secret(servers):
    """Any local process could post to the action server and store a call-back request (or read
    answers): only a caller with Rasa's shared secret is served."""
    cases = CaseStore(f"sqlite:///{servers.data_dir / 'handoff.db'}")
    body = callback_action_call("intruder")
    wrong = servers.actions_secret[:-1] + ("x" if servers.actions_secret[-1] != "x" else "y")
    for headers in ({}, {ACTIONS_SECRET_HEADER: wrong}, {ACTIONS_SECRET_HEADER: ""}):
        status, reply = call_actions("/webhook", body, headers)
        assert (status, reply) == (401, {"error": "not authenticated"}), headers
        assert call_actions("/actions", None, headers)[0] == 401
    assert cases.open_case_for("intruder") is None
    assert call_actions("/health", None) == (200, {"status": "ok"})  # probes need no secret

    status, reply = call_actions("/webhook", body, {ACTIONS_SECRET_HEADER: servers.actions_secret})
    assert status == 200, reply
    case = cases.open_case_for("intruder")
    assert case is not None and case.reference in reply["responses"][0]["text"]
    assert "Traceback" not in (servers.log_dir / "actions.log").read_text()


def test_rasa_sends_the_action_server_its_secret_and_no_secret_is_on_a_command_line(servers):
    session = request(servers, "/webhooks/rest/session", b"")[2]
    status, _, replies = request(
        servers, "/webhooks/rest/webhook", {**session, "message": "what does a senco do"}
    )
    assert status == 200, replies
    assert any("Source: SEN Support guidance" in r.get("text", "") for r in replies), replies
    for process in servers.processes:
        command = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        assert servers.actions_secret not in command
    secret_file = servers.data_dir / "actions-secret"
    if secret_file.exists():
        assert secret_file.stat().st_mode & 0o777 == 0o600


# --- the REST channel: server-issued, signed ids -----------------------------------------------
def test_a_rest_caller_cannot_write_into_a_conversation_by_choosing_its_id(servers):
    status, _, mine = request(servers, "/webhooks/rest/session", b"")
    assert status == 200
    _, _, theirs = request(servers, "/webhooks/rest/session", b"")
    assert mine["sender"] != theirs["sender"]
    attempts = [
        {"sender": "chosen-id", "message": "hello"},
        {"sender": theirs["sender"], "message": "hello"},
        {"sender": theirs["sender"], "token": mine["token"], "message": "hello"},
        {
            "sender": theirs["sender"],
            "token": mine["token"].replace(mine["sender"], theirs["sender"]),
            "message": "hello",
        },
    ]
    for attempt in attempts:
        status, _, body = request(servers, "/webhooks/rest/webhook", attempt)
        assert status == 403 and body["error"] == "session", attempt
    for conversation in ("chosen-id", theirs["sender"]):
        _, _, tracker = request(
            servers, f"/conversations/{conversation}/tracker", headers=servers.api_headers()
        )
        assert not [e for e in tracker["events"] if e["event"] == "user"], conversation
    status, _, replies = request(
        servers, "/webhooks/rest/webhook", {**mine, "message": "what is a senco"}
    )
    assert status == 200 and replies


def test_rasas_own_rest_channel_is_not_enabled():
    credentials = (ROOT / "credentials.yml").read_text().splitlines()
    assert "rest:" not in [line.strip() for line in credentials]
    assert "bot.channels.rest.SignedRestInput:" in credentials


# --- size and rate limits ----------------------------------------------------------------------
def test_bodies_over_64_kb_are_refused_with_413_everywhere(servers):
    big = json.dumps({"sender": "x", "token": "x", "message": "x" * (70 * 1024)}).encode()
    for path in ("/webhooks/rest/webhook", "/webhooks/telegram/webhook"):
        assert request(servers, path, big)[0] == 413, path
    events = json.dumps([{"event": "bot", "text": "x" * (70 * 1024)}]).encode()
    path = "/conversations/big/tracker/events"
    assert request(servers, path, events, headers=servers.api_headers())[0] == 413
    # Just under the limit is read (and refused for what it is, not for its size).
    under = json.dumps({"sender": "x", "token": "x", "message": "x" * (60 * 1024)}).encode()
    assert request(servers, "/webhooks/rest/webhook", under)[0] == 403


def test_a_rest_conversation_over_its_rate_limit_gets_429_and_a_clear_sentence(servers):
    _, _, mine = request(servers, "/webhooks/rest/session", b"")
    for _ in range(RATE):
        assert request(servers, "/webhooks/rest/webhook", {**mine, "message": "hello"})[0] == 200
    status, headers, body = request(servers, "/webhooks/rest/webhook", {**mine, "message": "hi"})
    assert status == 429
    assert body == {"error": "rate_limited", "message": RATE_LIMITED_REPLY}
    assert int(headers["Retry-After"]) >= 1
    _, _, other = request(servers, "/webhooks/rest/session", b"")
    assert request(servers, "/webhooks/rest/webhook", {**other, "message": "hello"})[0] == 200


def test_a_widget_conversation_over_its_rate_limit_is_refused_with_a_clear_sentence(servers):
    parent = SocketParent(servers.url).connect()
    try:
        acks = [
            parent.call("user_uttered", {"message": "hello", "token": parent.token})
            for _ in range(RATE + 1)
        ]
    finally:
        parent.close()
    assert acks[:RATE] == [{"ok": True}] * RATE
    assert acks[RATE] == {"ok": False, "error": "rate_limited", "message": RATE_LIMITED_REPLY}
    _, _, tracker = request(
        servers, f"/conversations/{parent.session_id}/tracker", headers=servers.api_headers()
    )
    assert len([e for e in tracker["events"] if e["event"] == "user"]) == RATE


# --- telemetry ---------------------------------------------------------------------------------
def test_rasa_runs_with_telemetry_off(servers):
    raw = Path(f"/proc/{rasa_process(servers).pid}/environ").read_bytes()
    env = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
    assert env.get("RASA_TELEMETRY_ENABLED") == "false"
    check = "import rasa.telemetry as t; print(t.is_telemetry_enabled())"
    answer = subprocess.run(
        [sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=120
    )
    assert answer.stdout.strip() == "False", answer.stderr[-2000:]


@pytest.mark.parametrize("callers", [None, "true"])
def test_telemetry_is_off_whatever_the_callers_environment_says(monkeypatch, callers):
    if callers is None:
        monkeypatch.delenv("RASA_TELEMETRY_ENABLED", raising=False)
    else:
        monkeypatch.setenv("RASA_TELEMETRY_ENABLED", callers)
    assert rasa_env()["RASA_TELEMETRY_ENABLED"] == "false"


def test_the_databases_secrets_and_logs_are_readable_by_their_owner_only(servers):
    """Children's data (UK GDPR special category): another user of the machine must not read
    the tracker, the events, the cases, the secrets or the logs (rasa.db and events.db, made by
    Rasa itself, used to be 0644)."""
    session = request(servers, "/webhooks/rest/session", b"")[2]
    request(servers, "/webhooks/rest/webhook", {**session, "message": "what is a senco"})
    files = [p for p in servers.data_dir.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"rasa.db", "events.db", "handoff.db"} <= names, names
    readable = {
        str(p.relative_to(servers.data_dir)): oct(p.stat().st_mode & 0o777)
        for p in files
        if p.stat().st_mode & 0o077
    }
    assert not readable, f"readable by others: {readable}"


def test_the_http_api_refuses_a_jwt_without_an_expiry_or_just_past_it(servers):
    """sanic-jwt (Rasa's) accepts a JWT with no exp for ever, and an expired one for three more
    minutes of leeway."""
    forever = {"user": {"username": "x", "role": "admin"}}
    no_expiry = jwt.encode(forever, servers.jwt_secret, algorithm="HS256")
    assert request(servers, "/status", headers=bearer(no_expiry))[0] == 401
    just_expired = api_jwt(servers.jwt_secret, now=time.time() - 300 - 30)  # 30 s past its exp
    assert request(servers, "/status", headers=bearer(just_expired))[0] == 401
    assert request(servers, "/status", headers=bearer(api_jwt(servers.jwt_secret)))[0] == 200


# --- what a stranger can send: a 4xx, never a 500 or an ERROR in the log -------------------------
def _new_log_lines(servers, sizes: dict[str, int]) -> str:
    return "".join(
        path.read_text(errors="replace")[sizes.get(path.name, 0) :]
        for path in sorted(servers.log_dir.glob("*.log"))
    )


def test_odd_requests_get_a_4xx_and_log_no_error(servers):
    import asyncio

    import aiohttp

    sizes = {p.name: len(p.read_text(errors="replace")) for p in servers.log_dir.glob("*.log")}
    deep = b"[" * 10_000 + b"]" * 10_000  # 20 KB
    assert request(servers, "/webhooks/rest/webhook", deep)[0] == 400
    token = CaseStore(f"sqlite:///{servers.data_dir / 'handoff.db'}").add_adviser("odd", "Odd")
    api = urllib.request.Request(
        f"{servers.adviser_url}/cases/99999999999999999999", headers=bearer(token)
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(api, timeout=30)
    assert refused.value.code == 404
    assert request(servers, "/status")[0] == 401  # a refused API call
    status_with_body = urllib.request.Request(
        servers.url + "/status", data=b'{"a": 1}', method="GET", headers=servers.api_headers()
    )
    assert urllib.request.urlopen(status_with_body, timeout=30).status == 200

    async def widget_visit() -> None:  # a websocket that opens a conversation and goes away
        url = servers.url + "/socket.io/?EIO=4&transport=websocket"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.receive()
            await ws.send_str("40")
            await ws.receive()

    asyncio.run(widget_visit())
    time.sleep(1)
    logged = _new_log_lines(servers, sizes)
    assert "ERROR" not in logged and "Traceback" not in logged, logged


def test_new_conversations_from_one_address_are_limited(servers):
    """Last in this file: it uses up this address's new conversations for a minute."""
    replies = []
    for _ in range(SESSIONS + 1):
        replies.append(request(servers, "/webhooks/rest/session", b""))
        if replies[-1][0] != 200:
            break
    status, headers, body = replies[-1]
    assert status == 429 and body == {"error": "rate_limited", "message": SESSIONS_LIMITED_REPLY}
    assert int(headers["Retry-After"]) >= 1
    parents = []
    try:
        for _ in range(SESSIONS + 1):
            parent = SocketParent(servers.url)
            parents.append(parent)
            parent.client.connect(servers.url, socketio_path="/socket.io", transports=["polling"])
            ack = parent.call("session_request", {"token": None})
            if not ack["ok"]:
                break
    finally:
        for parent in parents:
            parent.close()
    assert ack == {"ok": False, "error": "rate_limited", "message": SESSIONS_LIMITED_REPLY}
