"""The adviser API: the queue of hand-off cases, claiming one, chatting with the parent, closing.

A JSON-only Sanic app on 127.0.0.1 (publish it through a TLS proxy, like Rasa). Every route but
``/health`` needs ``Authorization: Bearer <adviser token>``; tokens are made with
``python -m bot.adviser.api add-adviser USERNAME FIRSTNAME`` and stored hashed. Cases live in the
``CaseStore`` (bot/cases/store.py); the conversation itself lives in Rasa, which this app reaches
through its HTTP API (``RasaClient``) to read the transcript, pause and resume the bot and send
the parent the adviser's messages. The ``HandoffWatcher`` runs beside it as a background task.

| variable | default | what |
|---|---|---|
| SEN_HANDOFF_DB_URL | sqlite:///$SEN_DATA_DIR/handoff.db | cases and advisers (bot.settings) |
| SEN_RASA_URL | http://127.0.0.1:5005 | the Rasa server, started with --enable-api |
| SEN_RASA_JWT_SECRET | $SEN_DATA_DIR/rasa-jwt-secret | signs JWTs for Rasa's API (bot.settings) |
| SEN_EVENTS_DB_URL | sqlite:///$SEN_DATA_DIR/events.db | Rasa's SQL event broker database |
| SEN_ADVISER_API_PORT | 5056 | the port, on 127.0.0.1 |
| SEN_HANDOFF_WATCHER | 1 | 0 to run the API without the watcher |
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint, Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from bot.assistant import replies
from bot.cases.desk import MAX_MESSAGE_CHARS, DeskError, HandoffDesk
from bot.cases.rasa_client import RasaClient, RasaUnavailable
from bot.cases.store import Adviser, CaseError, CaseStore
from bot.cases.watcher import HandoffWatcher
from bot.contract import Priority, Status
from bot.settings import jwt_secret, load_settings
from bot.web import json_value, quiet_refusals

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_BODY_BYTES = 64 * 1024

_app_numbers = itertools.count(1)


@dataclass(frozen=True)
class AdviserApiSettings:
    handoff_db_url: str
    rasa_url: str
    rasa_jwt_secret: str
    events_db_url: str
    port: int = 5056
    run_watcher: bool = True


def load_api_settings(env: Mapping[str, str] | None = None) -> AdviserApiSettings:
    base = load_settings(env)
    return AdviserApiSettings(
        handoff_db_url=base.handoff_db_url,
        rasa_url=base.rasa_url,
        rasa_jwt_secret=jwt_secret(base.data_dir, base),
        events_db_url=base.events_db_url,
        port=base.adviser_api_port,
        run_watcher=base.handoff_watcher,
    )


class ApiError(Exception):
    """A request the API refuses, with the status and the message the caller sees."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str) -> HTTPResponse:
    return json_response({"error": message}, status=status)


# --- request helpers ---------------------------------------------------------------------------
def json_body(request: Request, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; 400 with what was wrong otherwise."""
    if not request.body:
        if required:
            raise ApiError(400, "The request needs a JSON object body.")
        return {}
    try:
        body = json_value(request.body)  # nested too deeply: a ValueError too
    except ValueError as problem:
        raise ApiError(400, f"The body is not valid JSON: {problem}.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return body


def field_of(body: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
    if name not in body:
        if required:
            raise ApiError(400, f'"{name}" is missing.')
        return None
    value = body[name]
    # bool is an int in Python; a number is never accepted for a flag or the other way round.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ApiError(400, f'"{name}" must be a {_type_name(kind)}.')
    return value


def text_field(body: dict[str, Any], name: str, max_chars: int | None = None) -> str:
    value = field_of(body, name, str).strip()
    if not value:
        raise ApiError(400, f'"{name}" must not be empty.')
    if max_chars is not None and len(value) > max_chars:
        raise ApiError(400, f'"{name}" is longer than {max_chars} characters.')
    return value


def _type_name(kind: type) -> str:
    return {str: "string", bool: "boolean (true or false)"}.get(kind, kind.__name__)


def enum_filter(request: Request, name: str, enum: type) -> Any:
    # Blank values are kept, so "?status=" is refused rather than silently unfiltered.
    raw = request.get_args(keep_blank_values=True).get(name)
    if raw is None:
        return None
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(item.value for item in enum)
        raise ApiError(400, f'"{name}" must be one of: {allowed}.') from None


def bearer_token(request: Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


Handler = Callable[..., Awaitable[HTTPResponse]]


def authenticated(handler: Handler) -> Handler:
    """Only advisers with a valid token get past; who they are is in ``request.ctx.adviser``."""

    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        store: CaseStore = request.app.ctx.store
        adviser = await asyncio.to_thread(store.adviser_for_token, bearer_token(request))
        if adviser is None:
            return error(401, replies.text("adviser.token_needed"))
        request.ctx.adviser = adviser
        return await handler(request, *args, **kwargs)

    return wrapper


# --- the routes --------------------------------------------------------------------------------
def _store(request: Request) -> CaseStore:
    return request.app.ctx.store


def _client(request: Request) -> RasaClient:
    return request.app.ctx.client


def _desk(request: Request) -> HandoffDesk:
    return HandoffDesk(_store(request), _client(request))


@authenticated
async def list_cases(request: Request) -> HTTPResponse:
    status = enum_filter(request, "status", Status)
    priority = enum_filter(request, "priority", Priority)
    found = await asyncio.to_thread(_store(request).cases, status=status, priority=priority)
    return json_response({"cases": [case.as_dict() for case in found]})


@authenticated
async def show_case(request: Request, case_id: int) -> HTTPResponse:
    case, transcript, problem = await _desk(request).case_and_transcript(case_id)
    answer: dict[str, Any] = {"case": case.as_dict(), "transcript": transcript}
    if problem is not None:
        # The case is still worth showing; the adviser sees why the messages are missing.
        answer["transcript_error"] = problem
    # The parent's "Was this helpful?" answers in this conversation (message id, article).
    answer["feedback"] = await asyncio.to_thread(_store(request).feedback, case.conversation_id)
    return json_response(answer)


@authenticated
async def claim_case(request: Request, case_id: int) -> HTTPResponse:
    take_over = field_of(json_body(request, required=False), "take_over", bool, required=False)
    case = await _desk(request).claim(case_id, request.ctx.adviser, bool(take_over))
    return json_response({"case": case.as_dict()})


@authenticated
async def send_message(request: Request, case_id: int) -> HTTPResponse:
    text = text_field(json_body(request), "text", MAX_MESSAGE_CHARS)
    await _desk(request).send(case_id, request.ctx.adviser, text)
    return json_response({"sent": True}, status=201)


@authenticated
async def close_case(request: Request, case_id: int) -> HTTPResponse:
    outcome = text_field(json_body(request), "outcome")
    closed = await _desk(request).close(case_id, request.ctx.adviser, outcome)
    return json_response({"case": closed.as_dict()})


@authenticated
async def set_availability(request: Request) -> HTTPResponse:
    available = field_of(json_body(request), "available", bool)
    adviser: Adviser = request.ctx.adviser
    await asyncio.to_thread(_store(request).set_available, adviser.username, available)
    return json_response({"username": adviser.username, "available": available})


async def health(request: Request) -> HTTPResponse:
    return json_response({"status": "ok"})


def blueprints() -> list[Blueprint]:
    """Fresh blueprints for each app, so several apps (tests) never share route state."""
    cases = Blueprint("cases")
    cases.add_route(list_cases, "/cases", methods=["GET"])
    cases.add_route(show_case, "/cases/<case_id:int>", methods=["GET"])
    cases.add_route(claim_case, "/cases/<case_id:int>/claim", methods=["POST"])
    cases.add_route(send_message, "/cases/<case_id:int>/messages", methods=["POST"])
    cases.add_route(close_case, "/cases/<case_id:int>/close", methods=["POST"])
    advisers = Blueprint("advisers")
    advisers.add_route(set_availability, "/advisers/me/availability", methods=["PUT"])
    return [cases, advisers]


# --- errors: always JSON, never a stack trace --------------------------------------------------
async def handle_error(request: Request, problem: Exception) -> HTTPResponse:
    if isinstance(problem, (ApiError, DeskError)):
        return error(problem.status, str(problem))
    if isinstance(problem, CaseError):
        return error(problem.code, str(problem))
    if isinstance(problem, RasaUnavailable):
        return error(502, replies.text("adviser.assistant_unreachable", problem=problem))
    if isinstance(problem, SanicException):
        return error(problem.status_code, str(problem) or replies.text("adviser.request_failed"))
    logger.exception("Unexpected error on %s %s", request.method, request.path)
    return error(500, replies.text("adviser.server_error"))


# --- the app -----------------------------------------------------------------------------------
def create_app(
    settings: AdviserApiSettings,
    client: RasaClient | None = None,
    store: CaseStore | None = None,
) -> Sanic:
    """A new app (with a unique name, as Sanic keeps a registry of apps by name)."""
    app = Sanic(f"adviser_api_{next(_app_numbers)}")
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.ctx.store = store or CaseStore(settings.handoff_db_url)
    app.ctx.client = client or RasaClient(settings.rasa_url, settings.rasa_jwt_secret)
    for blueprint in blueprints():
        app.blueprint(blueprint)
    app.add_route(health, "/health", methods=["GET"])
    app.error_handler.add(Exception, handle_error)
    quiet_refusals()  # a GET with a body is a WARNING, not an ERROR
    if settings.run_watcher:
        _run_watcher(app, settings.events_db_url)
    return app


def _run_watcher(app: Sanic, events_db_url: str) -> None:
    watcher = HandoffWatcher(app.ctx.store, app.ctx.client, events_db_url)
    app.ctx.watcher = watcher

    # A task of the server's own loop, started and cancelled with the server. (Sanic 21.12's
    # app.add_task can't be used here: under create_server it has no loop to start a task on.)
    async def start(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
        app.ctx.watcher_task = loop.create_task(watcher.run(), name="handoff-watcher")

    async def stop(app: Sanic, _loop: Any) -> None:
        task = getattr(app.ctx, "watcher_task", None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    app.register_listener(start, "after_server_start")
    app.register_listener(stop, "before_server_stop")


# --- command line ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.adviser.api", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the API on 127.0.0.1 (the default)")
    add = commands.add_parser("add-adviser", help="create an adviser (or give them a new token)")
    add.add_argument("username")
    add.add_argument("first_name", help="the name parents see, e.g. Sam")
    options = parser.parse_args(argv)
    if options.command == "add-adviser":
        return add_adviser(options.username, options.first_name)
    settings = load_api_settings()
    create_app(settings).run(host=HOST, port=settings.port, access_log=False)
    return 0


def add_adviser(username: str, first_name: str) -> int:
    if not username.strip() or not first_name.strip():
        print("A username and a first name are needed.", file=sys.stderr)
        return 2
    store = CaseStore(load_settings().handoff_db_url)
    token = store.add_adviser(username.strip(), first_name.strip())
    print(f"Adviser {username.strip()} can now use the API with this token (shown only once):")
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
