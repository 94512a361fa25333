"""``rasa run`` with the JWT secret taken from the environment instead of the command line.

A command line is world-readable (``ps``, ``/proc/<pid>/cmdline``); a process's environment is
readable by its owner only. ``bot.ops.servers`` starts Rasa as ``python -m bot.plugins.rasa_run
<rasa run options>`` with ``SEN_RASA_JWT_SECRET`` set; this adds ``--jwt-secret`` in-process.

It refuses a JWT without an expiry, or past it (sanic-jwt would accept the first for ever and
the second for three minutes more). It also answers a JWT that PyJWT can't even parse for its
algorithm (``alg: none``, say) with 401, as every other bad JWT is answered: sanic-jwt lets that
exception through, and Rasa would answer 500 with a stack trace in its log.

It sends the action server its shared secret (``bot.settings.actions_secret``, in the
``bot.contract.ACTIONS_SECRET_HEADER`` header) with every call, whichever endpoints file names the
action server: the secret is added to the action endpoint as Rasa reads it, so it is never
written into an endpoints file. ``python -m bot.plugins.rasa_run shell ...`` is ``rasa shell``
with only this change (``make shell``).

It reads each message (the NLU graph: sentence embeddings, the safeguarding checks) in a small
pool of threads instead of on the event loop: Rasa 3.6 runs the graph inline in
``MessageProcessor.parse_message``, so one parent's long message held up every other parent's
reply until it was read. NumPy and the tokenizer release the GIL while they compute, so a short
message from someone else is read alongside a long one.

It opens SQLite databases (the default tracker store and event broker, in var/) in write-ahead-log
mode with ``synchronous=NORMAL``: Rasa's SQL event broker commits every event on its own, and
with SQLite's defaults each commit waited for the disk twice, which was half of the Rasa server's
time per message. A commit now survives the process crashing; the last few may be lost if the
machine loses power (docs/decisions.md). PostgreSQL, in the production profile, is unchanged.

And it checks the action server's reply against Rasa's response schema with a validator built
once: Rasa calls ``jsonschema.validate()`` for every reply, which first checks the schema itself
against JSON Schema's meta-schema, and that took about 45% of the Rasa server's CPU per message
(py-spy during ``make bench-load``).
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

from bot.cases.rasa_client import JWT_METHOD
from bot.contract import ACTIONS_SECRET_HEADER
from bot.settings import actions_secret, load_settings
from bot.web import quiet_refusals


def bearer_token(header: str | None) -> str | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    return header[len("bearer ") :].strip()


def unexpired(token: str, now: float | None = None) -> bool:
    """The JWT has an ``exp`` claim, and it has not passed (no leeway). Only the claims are read
    here; whether the signature is right is sanic-jwt's check."""
    import time

    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.exceptions.PyJWTError:
        return True  # unreadable: sanic-jwt refuses it, with the same 401
    expiry = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(expiry, (int, float)) or isinstance(expiry, bool):
        return False
    return expiry > (now if now is not None else time.time())


def _refuse_unreadable_jwts() -> None:
    import jwt
    from rasa import server
    from sanic import response

    create_app = server.create_app

    @functools.wraps(create_app)
    def create_app_refusing_bad_jwts(*args: Any, **kwargs: Any) -> Any:
        app = create_app(*args, **kwargs)

        def refused() -> Any:
            body = {"status": "failure", "reason": "NotAuthenticated", "code": 401}
            return response.json({**body, "message": "User is not authenticated."}, status=401)

        @app.exception(jwt.exceptions.PyJWTError)
        async def not_authenticated(request: Any, exception: Exception) -> Any:
            return refused()

        @app.middleware("request")
        async def require_expiry(request: Any) -> Any:
            # sanic-jwt accepts a JWT with no "exp" for ever and an expired one for 3 more
            # minutes (its leeway): a bearer token must expire, and not have expired. The
            # signature is still checked by sanic-jwt after this.
            token = bearer_token(request.headers.get("Authorization"))
            if token is not None and not unexpired(token):
                return refused()
            return None

        return app

    server.create_app = create_app_refusing_bad_jwts


def _refused_calls_are_warnings() -> None:
    """Rasa's ``ErrorResponse`` logs its message at ERROR, so every refused API call (401 without
    a JWT, 404, 400) was an ERROR line anyone could add to the log: a refusal (below 500) is
    logged as a WARNING, a failure of ours (500 and above) still as an ERROR. The rest of the
    constructor is Rasa 3.6's, unchanged."""
    import rasa
    from rasa import server

    def init(
        self: Any, status: Any, reason: str, message: str, details: Any = None, help_url: Any = None
    ) -> None:
        self.error_info = {
            "version": rasa.__version__,
            "status": "failure",
            "message": message,
            "reason": reason,
            "details": details or {},
            "help": help_url,
            "code": status,
        }
        self.status = status
        server.logger.log(logging.ERROR if int(status) >= 500 else logging.WARNING, message)
        Exception.__init__(self)

    server.ErrorResponse.__init__ = init


def _send_actions_secret(secret: str) -> None:
    """Every action endpoint Rasa reads from an endpoints file sends ``secret`` in a header (an
    EndpointConfig's ``headers`` go with every request; its ``token`` would go in the URL)."""
    from rasa.core.utils import AvailableEndpoints

    read = AvailableEndpoints.read_endpoints.__func__  # type: ignore[attr-defined]
    if getattr(read, "sends_actions_secret", False):
        return

    @functools.wraps(read)
    def read_endpoints(cls: type, endpoint_file: str) -> Any:
        endpoints = read(cls, endpoint_file)
        if endpoints.action is not None:
            endpoints.action.headers = {**endpoints.action.headers, ACTIONS_SECRET_HEADER: secret}
        return endpoints

    read_endpoints.sends_actions_secret = True  # type: ignore[attr-defined]
    AvailableEndpoints.read_endpoints = classmethod(read_endpoints)  # type: ignore[assignment]


def _check_action_schema_once() -> None:
    """Replies that pass Rasa's schema are accepted by a validator built once; a reply that fails
    it goes to Rasa's own method, so the error and its message are exactly Rasa's."""
    from jsonschema import validators
    from rasa.core.actions.action import RemoteAction

    rasa_validate = RemoteAction._validate_action_result
    if getattr(rasa_validate, "schema_checked_once", False):
        return
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    @functools.wraps(rasa_validate)
    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        if validator.is_valid(result):
            return True
        return rasa_validate(self, result)

    validate_action_result.schema_checked_once = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]


# Messages read at once; more wait their turn. Two cores here: a few threads keep a short message
# from waiting behind one long one without the long ones crowding each other out.
PARSE_THREADS = 4


def _parse_off_the_event_loop(threads: int = PARSE_THREADS) -> None:
    """``MessageProcessor.parse_message`` as Rasa 3.6.21 has it, with the graph run in a thread
    pool. (Its debug log line, which repeats the parent's text, is left out.)"""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.trackers import DialogueStateTracker

    original = MessageProcessor.parse_message
    if getattr(original, "off_the_event_loop", False):
        return
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sen-nlu")

    @functools.wraps(original)
    async def parse_message(
        self: MessageProcessor,
        message: Any,
        tracker: DialogueStateTracker | None = None,
        only_output_properties: bool = True,
    ) -> dict[str, Any]:
        if self.http_interpreter:
            return await original(self, message, tracker, only_output_properties)
        if tracker is None:
            tracker = DialogueStateTracker.from_events(message.sender_id, [])
        parse = functools.partial(
            self._parse_message_with_graph, message, tracker, only_output_properties
        )
        parse_data = await asyncio.get_running_loop().run_in_executor(pool, parse)
        self._update_full_retrieval_intent(parse_data)
        self._check_for_unseen_features(parse_data)
        return parse_data

    parse_message.off_the_event_loop = True  # type: ignore[attr-defined]
    MessageProcessor.parse_message = parse_message  # type: ignore[method-assign]


def sqlite_pragmas(dbapi_connection: Any) -> None:
    """Write-ahead log, and no wait for the disk on every commit (see the module's docstring)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        sqlite_pragmas(dbapi_connection)


def _sqlite_without_waiting_for_the_disk() -> None:
    """The pragmas on every SQLite connection, and SQLite engines that keep their connection
    (one per thread) instead of SQLAlchemy's default for files, a new one for every session:
    Rasa's stores open a session per write, and closing the last connection to a WAL database
    checkpoints it and waits for the disk again."""
    import sqlalchemy
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import SingletonThreadPool

    if not event.contains(Engine, "connect", _on_sqlite_connect):
        event.listen(Engine, "connect", _on_sqlite_connect)
    create_engine = sqlalchemy.create_engine
    if getattr(create_engine, "keeps_sqlite_connections", False):
        return

    @functools.wraps(create_engine)
    def create_engine_keeping_sqlite_connections(url: Any, *args: Any, **kwargs: Any) -> Any:
        if str(url).startswith("sqlite") and ":memory:" not in str(url):
            kwargs.setdefault("poolclass", SingletonThreadPool)
        return create_engine(url, *args, **kwargs)

    create_engine_keeping_sqlite_connections.keeps_sqlite_connections = True  # type: ignore[attr-defined]
    sqlalchemy.create_engine = create_engine_keeping_sqlite_connections


def main() -> None:
    settings = load_settings()
    _parse_off_the_event_loop()
    _sqlite_without_waiting_for_the_disk()
    _send_actions_secret(actions_secret(settings.data_dir, settings))
    _check_action_schema_once()
    _refused_calls_are_warnings()
    quiet_refusals()
    if sys.argv[1:2] == ["shell"]:  # a terminal chat: no HTTP API
        sys.argv = ["rasa", *sys.argv[1:]]
    else:
        secret = settings.rasa_jwt_secret
        if not secret:
            sys.exit(
                "SEN_RASA_JWT_SECRET is not set: Rasa's HTTP API would have no authentication."
            )
        sys.argv = ["rasa", "run", *sys.argv[1:], f"--jwt-secret={secret}"]
        sys.argv += ["--jwt-method", JWT_METHOD]
        _refuse_unreadable_jwts()
    from rasa.__main__ import main as rasa_main

    sys.exit(rasa_main())


if __name__ == "__main__":
    main()
