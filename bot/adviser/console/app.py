"""The adviser console: a web app for the case queue, live chats, transcripts and improving the bot.

Server-rendered pages (Jinja2, autoescaped) with a little JavaScript for the live chat; every page
needs a login, every form carries the session's CSRF token, and the pages are sent with a strict
Content Security Policy. It listens on 127.0.0.1 (``SEN_CONSOLE_PORT``, default 5057): publish it
through a TLS proxy.

Transcripts are shown with personal data redacted (``bot.assistant.redaction``); an admin can
reveal one, which is written to the audit log, as is every view, export and deletion.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Request, Sanic
from sanic.exceptions import NotFound, SanicException
from sanic.response import HTTPResponse, html, raw, redirect
from sanic.response import json as json_response

from bot.adviser.console.accounts import Accounts, Session, csrf_matches
from bot.adviser.console.charts import bar_chart
from bot.adviser.console.corrections import Corrections, corrections_yaml
from bot.adviser.console.erasure import Eraser
from bot.assistant import replies
from bot.assistant.knowledge import expected_article_ids
from bot.assistant.redaction import redact
from bot.cases.desk import DeskError, HandoffDesk
from bot.cases.rasa_client import RasaClient
from bot.cases.store import Adviser, CaseError, CaseStore
from bot.cases.transcripts import TranscriptStore
from bot.contract import (
    OUT_OF_SCOPE_INTENT,
    REQUEST_HUMAN_INTENT,
    ROUTES,
    SAFEGUARDING_INTENT,
    Status,
    clean_text,
    intent_for_article,
)
from bot.settings import jwt_secret, load_settings
from bot.web import client_address, quiet_refusals

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
COOKIE = "sen_console"
LOGIN_COOKIE = "sen_console_login"
HERE = Path(__file__).resolve().parent
_app_numbers = itertools.count(1)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages hold children's data: never kept in a shared computer's cache.
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class ConsoleSettings:
    db_url: str  # cases, advisers, console accounts, audit, corrections
    events_db_url: str  # Rasa's SQL event broker: the conversations
    tracker_db_url: str  # Rasa's SQL tracker store (erasure deletes there too)
    rasa_url: str
    rasa_jwt_secret: str  # signs the short-lived JWTs RasaClient sends to Rasa's HTTP API
    port: int = 5057
    secure_cookies: bool = True


def load_console_settings(env: Mapping[str, str] | None = None) -> ConsoleSettings:
    base = load_settings(env)
    return ConsoleSettings(
        db_url=base.handoff_db_url,
        events_db_url=base.events_db_url,
        tracker_db_url=base.tracker_db_url,
        rasa_url=base.rasa_url,
        rasa_jwt_secret=jwt_secret(base.data_dir, base),
        port=base.console.port,
        secure_cookies=base.console.secure_cookies,
    )


class PageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- templates --------------------------------------------------------------------------------
def _when(value: object) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%d %b %Y %H:%M UTC")
    return str(value)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["pct"] = lambda x: f"{100 * (x or 0):.0f}%"
    # A conversation id in a URL path, quoted whole (REST ids may hold any character).
    env.filters["cid"] = lambda value: quote(str(value), safe="")
    return env


# --- request plumbing -------------------------------------------------------------------------
Handler = Callable[..., Awaitable[HTTPResponse]]


def page(admin: bool = False) -> Callable[[Handler], Handler]:
    """Only a logged-in user (an admin, if asked) gets past; POSTs must carry the CSRF token."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            accounts: Accounts = request.app.ctx.accounts
            session = await asyncio.to_thread(accounts.session, request.cookies.get(COOKIE))
            if session is None:
                if request.method == "GET":
                    return redirect("/login?next=" + quote(request.path, safe="/"))
                raise PageError(401, "Your session has ended. Please log in again.")
            if request.method == "POST":
                given = request.headers.get("x-csrf-token") or (request.form or {}).get(
                    "csrf_token"
                )
                if not csrf_matches(session.csrf_token, given):
                    raise PageError(403, "The form was out of date. Go back, reload and retry.")
            if admin and not session.user.is_admin:
                raise PageError(403, "Only an admin can do that.")
            request.ctx.session = session
            if "conversation_id" in kwargs:  # Sanic 21.12 leaves path parameters quoted
                kwargs["conversation_id"] = unquote(kwargs["conversation_id"])
            return await handler(request, *args, **kwargs)

        return wrapper

    return decorate


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTTPResponse:
    session: Session | None = getattr(request.ctx, "session", None)
    body = request.app.ctx.templates.get_template(template).render(
        user=session.user if session else None,
        csrf_token=session.csrf_token if session else "",
        path=request.path,
        **context,
    )
    return html(body, status=status, headers=SECURITY_HEADERS)


def _ctx(request: Request) -> Any:
    return request.app.ctx


def _adviser(request: Request) -> Adviser:
    user = request.ctx.session.user
    return Adviser(user.username, user.first_name, False)


def _form(request: Request, name: str, max_chars: int = 2000) -> str:
    value = (request.form or {}).get(name) or ""
    return value.strip()[:max_chars]


async def _audit(request: Request, action: str, target: str = "", detail: str = "") -> None:
    user = request.ctx.session.user.username
    await asyncio.to_thread(_ctx(request).accounts.audit, user, action, target, detail)


# --- logging in -------------------------------------------------------------------------------
def _login_page(request: Request, token: str, message: str = "", status: int = 200):
    response = render(
        request, "login.html", status=status, login_token=token, message=message,
        next=request.args.get("next") or (request.form or {}).get("next") or "/",
    )  # fmt: skip
    _set_cookie(request, response, LOGIN_COOKIE, token, max_age=1800)
    return response


def _set_cookie(request: Request, response: HTTPResponse, name: str, value: str, max_age: int):
    response.cookies[name] = value
    cookie = response.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = "/"
    cookie["max-age"] = max_age
    if _ctx(request).settings.secure_cookies:
        cookie["secure"] = True


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never an open redirect.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def login_form(request: Request) -> HTTPResponse:
    import secrets

    return _login_page(request, secrets.token_urlsafe(24))


async def login(request: Request) -> HTTPResponse:
    import secrets

    # Login CSRF: the form's token must match the cookie set with the form (double submit).
    if not csrf_matches(request.cookies.get(LOGIN_COOKIE) or "", _form(request, "login_token")):
        return _login_page(
            request, secrets.token_urlsafe(24), replies.text("adviser.login_retry"), 403
        )
    result = await asyncio.to_thread(
        _ctx(request).accounts.login,
        _form(request, "username", 64),
        _form(request, "password"),
        client_address(request),
    )
    if result.session_token is None:
        message = replies.text("adviser.login_locked" if result.locked else "adviser.login_wrong")
        return _login_page(request, secrets.token_urlsafe(24), message, 401)
    response = redirect(_safe_next(_form(request, "next")))
    _set_cookie(request, response, COOKIE, result.session_token, max_age=12 * 3600)
    del response.cookies[LOGIN_COOKIE]
    return response


@page()
async def logout(request: Request) -> HTTPResponse:
    await asyncio.to_thread(_ctx(request).accounts.logout, request.cookies.get(COOKIE))
    response = redirect("/login")
    del response.cookies[COOKIE]
    return response


# --- the case queue ---------------------------------------------------------------------------
@page()
async def queue(request: Request) -> HTTPResponse:
    store: CaseStore = _ctx(request).store
    cases = await asyncio.to_thread(store.cases)
    me = await asyncio.to_thread(store.adviser, request.ctx.session.user.username)
    groups = {status: [c for c in cases if c.status is status] for status in Status}
    groups[Status.CLOSED] = sorted(groups[Status.CLOSED], key=lambda c: c.updated_at)[::-1][:50]
    return render(request, "queue.html", groups=groups, Status=Status, me=me)


@page()
async def availability(request: Request) -> HTTPResponse:
    available = _form(request, "available") == "yes"
    user = request.ctx.session.user.username
    await asyncio.to_thread(_ctx(request).store.set_available, user, available)
    return redirect("/")


@page()
async def show_case(request: Request, case_id: int) -> HTTPResponse:
    case, transcript, problem = await _ctx(request).desk.case_and_transcript(case_id)
    await _audit(request, "view_case", str(case_id))
    return render(
        request, "case.html", case=case, transcript=transcript, transcript_error=problem,
        mine=case.status is Status.LIVE and case.adviser == request.ctx.session.user.username,
    )  # fmt: skip


@page()
async def case_messages(request: Request, case_id: int) -> HTTPResponse:
    """The live chat's messages, for the page's script (polled every 2 seconds)."""
    case, transcript, problem = await _ctx(request).desk.case_and_transcript(case_id)
    return json_response(
        {"status": case.status.value, "messages": transcript, "error": problem},
        headers=SECURITY_HEADERS,
    )


@page()
async def claim(request: Request, case_id: int) -> HTTPResponse:
    take_over = _form(request, "take_over") == "yes"
    await _ctx(request).desk.claim(case_id, _adviser(request), take_over)
    return redirect(f"/cases/{case_id}")


@page()
async def send(request: Request, case_id: int) -> HTTPResponse:
    await _ctx(request).desk.send(case_id, _adviser(request), _form(request, "text"))
    if request.headers.get("x-csrf-token"):  # the page's script: no reload
        return json_response({"sent": True}, status=201)
    return redirect(f"/cases/{case_id}")


@page()
async def close(request: Request, case_id: int) -> HTTPResponse:
    outcome = _form(request, "outcome")
    if not outcome:
        raise PageError(400, "Write a short outcome note before closing the case.")
    await _ctx(request).desk.close(case_id, _adviser(request), outcome)
    return redirect("/")


# --- transcripts ------------------------------------------------------------------------------
def _day(value: str | None, end: bool = False) -> float | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise PageError(400, f"'{value}' is not a date (YYYY-MM-DD).") from None
    return (day + timedelta(days=1 if end else 0)).timestamp()


def _filters(request: Request) -> dict[str, Any]:
    args = request.args
    feedback = args.get("feedback") or None
    if feedback not in (None, "helpful", "unhelpful", "any", "none"):
        raise PageError(400, "Unknown feedback filter.")
    route = args.get("route") or None
    if route not in (None, *ROUTES):
        raise PageError(400, "Unknown route filter.")
    return {
        "query": (args.get("q") or "").strip()[:200] or None,
        "channel": args.get("channel") or None,
        "route": route,
        "article": args.get("article") or None,
        "feedback": feedback,
        "since": _day(args.get("from")),
        "until": _day(args.get("to"), end=True),
    }


@page()
async def conversations(request: Request) -> HTTPResponse:
    filters = _filters(request)
    found = await asyncio.to_thread(_ctx(request).transcripts.conversations, **filters)
    return render(
        request, "conversations.html", conversations=found, args=request.args, routes=ROUTES,
        articles=_ctx(request).articles,
    )  # fmt: skip


async def _conversation(request: Request, conversation_id: str, reveal: bool):
    found = await asyncio.to_thread(_ctx(request).transcripts.conversation, conversation_id)
    if found is None:
        raise NotFound("There is no such conversation (it may have been deleted).")
    summary, turns = found
    if not reveal:
        turns = [_redacted(turn) for turn in turns]
    return summary, turns


def _redacted(turn: Any) -> Any:
    replies = [{**reply, "text": redact(reply.get("text") or "")} for reply in turn.replies]
    return type(turn)(**{**asdict(turn), "text": redact(turn.text), "replies": replies})


@page()
async def conversation(request: Request, conversation_id: str) -> HTTPResponse:
    summary, turns = await _conversation(request, conversation_id, reveal=False)
    await _audit(request, "view", conversation_id)
    return _conversation_page(request, summary, turns, revealed=False)


@page(admin=True)
async def reveal(request: Request, conversation_id: str) -> HTTPResponse:
    reason = _form(request, "reason", 300)
    if not reason:
        raise PageError(400, "Give a reason for revealing personal data; it is logged.")
    summary, turns = await _conversation(request, conversation_id, reveal=True)
    await _audit(request, "reveal", conversation_id, reason)
    return _conversation_page(request, summary, turns, revealed=True)


def _conversation_page(request: Request, summary: Any, turns: list, revealed: bool):
    corrections: Corrections = _ctx(request).corrections
    marked = {c["turn_index"]: c for c in corrections.for_conversation(summary.conversation_id)}
    intents = _ctx(request).intents
    return render(
        request, "conversation.html", summary=summary, turns=turns, revealed=revealed,
        marked=marked, intents=intents,
    )  # fmt: skip


@page()
async def correct(request: Request, conversation_id: str, index: int) -> HTTPResponse:
    intent = _form(request, "intent", 64)
    if intent not in _ctx(request).intents:
        raise PageError(400, "Choose the right topic from the list.")
    found = await asyncio.to_thread(_ctx(request).transcripts.conversation, conversation_id)
    if found is None or not 0 <= index < len(found[1]):
        raise NotFound("There is no such turn.")
    turn = found[1][index]
    await asyncio.to_thread(
        _ctx(request).corrections.mark, conversation_id, index, turn.text, turn.intent, intent,
        request.ctx.session.user.username,
    )  # fmt: skip
    return redirect(f"/conversations/{quote(conversation_id, safe='')}#turn-{index}")


@page()
async def corrections_page(request: Request) -> HTTPResponse:
    rows = await asyncio.to_thread(_ctx(request).corrections.all)
    return render(request, "corrections.html", corrections=rows)


@page()
async def export_corrections(request: Request) -> HTTPResponse:
    rows = await asyncio.to_thread(_ctx(request).corrections.all)
    await _audit(request, "export_corrections", detail=f"{len(rows)} corrections")
    return _download(corrections_yaml(rows), "corrections.yml", "text/yaml; charset=utf-8")


def _download(body: str, filename: str, content_type: str) -> HTTPResponse:
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    return raw(body.encode("utf-8"), content_type=content_type, headers=headers)


def _reveal_export(request: Request) -> bool:
    wanted = request.args.get("reveal") == "1"
    if wanted and not request.ctx.session.user.is_admin:
        raise PageError(403, "Only an admin can export personal data unredacted.")
    return wanted


@page()
async def export_conversation(request: Request, conversation_id: str, kind: str) -> HTTPResponse:
    if kind not in ("txt", "json"):
        raise NotFound("Exports are .txt or .json.")
    revealed = _reveal_export(request)
    summary, turns = await _conversation(request, conversation_id, reveal=revealed)
    await _audit(request, "export", conversation_id, f"{kind}{', unredacted' if revealed else ''}")
    name = f"conversation-{conversation_id[:24]}.{kind}"
    if kind == "json":
        body = json.dumps(
            {"conversation": asdict(summary), "turns": [asdict(t) for t in turns],
             "redacted": not revealed},
            indent=2, ensure_ascii=False,
        )  # fmt: skip
        return _download(body, name, "application/json; charset=utf-8")
    heading = "adviser.export_heading" if revealed else "adviser.export_heading_redacted"
    lines = [
        replies.text(
            heading,
            conversation=summary.conversation_id,
            channel=summary.channel,
            started=_when(summary.started),
        ),
        "",
    ]
    parent = replies.text("adviser.export_parent")
    for turn in turns:
        lines.append(f"[{_when(turn.timestamp)}] {parent}: {turn.text}")
        for reply in turn.replies:
            if reply.get("from") == "adviser":
                name = reply.get("name") or replies.text("adviser.export_unnamed_adviser")
                who = replies.text("adviser.export_adviser", name=name)
            else:
                who = replies.text("adviser.export_assistant")
            lines.append(f"[{_when(reply.get('timestamp'))}] {who}: {reply.get('text')}")
        lines.append("")
    return _download("\n".join(lines), name, "text/plain; charset=utf-8")


async def export_text(request: Request, conversation_id: str) -> HTTPResponse:
    return await export_conversation(request, conversation_id=conversation_id, kind="txt")


async def export_json(request: Request, conversation_id: str) -> HTTPResponse:
    return await export_conversation(request, conversation_id=conversation_id, kind="json")


@page()
async def export_range(request: Request) -> HTTPResponse:
    revealed = _reveal_export(request)
    since, until = _day(request.args.get("from")), _day(request.args.get("to"), end=True)
    transcripts: TranscriptStore = _ctx(request).transcripts
    found = await asyncio.to_thread(
        transcripts.conversations, since=since, until=until, limit=100_000
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["conversation", "channel", "time", "from", "text", "intent", "confidence", "route",
         "article", "feedback"]
    )  # fmt: skip
    for summary in found:
        _, turns = await _conversation(request, summary.conversation_id, reveal=revealed)
        for turn in turns:
            writer.writerow(
                [summary.conversation_id, summary.channel, _when(turn.timestamp), "parent",
                 _csv_safe(turn.text), turn.intent or "", f"{turn.confidence or 0:.2f}",
                 turn.route or "", turn.article or "",
                 "" if turn.feedback is None else ("helpful" if turn.feedback else "unhelpful")]
            )  # fmt: skip
            for reply in turn.replies:
                writer.writerow(
                    [summary.conversation_id, summary.channel, _when(reply.get("timestamp")),
                     reply.get("from") or "bot", _csv_safe(reply.get("text") or ""), "", "",
                     "", "", ""]
                )  # fmt: skip
    detail = f"{len(found)} conversations{', unredacted' if revealed else ''}"
    await _audit(request, "export_range", f"{request.args.get('from')}..{request.args.get('to')}",
                 detail)  # fmt: skip
    return _download(out.getvalue(), "conversations.csv", "text/csv; charset=utf-8")


def _csv_safe(text: str) -> str:
    # Control characters (a NUL breaks the whole file) go; a cell starting with = + - @ would
    # run as a formula in a spreadsheet.
    text = clean_text(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@page(admin=True)
async def delete_conversation(request: Request, conversation_id: str) -> HTTPResponse:
    if _form(request, "confirm") != conversation_id:
        raise PageError(400, "Type the conversation id to confirm the deletion.")
    removed = await asyncio.to_thread(_ctx(request).eraser.erase, conversation_id)
    await _audit(request, "delete", conversation_id, f"{removed} records")
    return redirect("/conversations?deleted=1")


# --- improving the bot ------------------------------------------------------------------------
@page()
async def gaps(request: Request) -> HTTPResponse:
    since = _day(request.args.get("from"))
    groups = await asyncio.to_thread(_ctx(request).transcripts.content_gaps, since)
    groups = [
        {**g, "example": redact(g["example"]), "questions": [redact(q) for q in g["questions"]]}
        for g in groups
    ]
    return render(request, "gaps.html", groups=groups)


@page()
async def analytics(request: Request) -> HTTPResponse:
    since = _day(request.args.get("from"))
    waits = await asyncio.to_thread(
        _ctx(request).store.waits,
        datetime.fromtimestamp(since, timezone.utc) if since else None,
    )
    data = await asyncio.to_thread(_ctx(request).transcripts.analytics, since, waits)
    charts = {
        "per_day": bar_chart(data["per_day"], replies.text("adviser.chart_per_day")),
        "routes": bar_chart(list(data["routes"].items()), replies.text("adviser.chart_routes")),
        "articles": bar_chart(data["top_articles"], replies.text("adviser.chart_articles")),
        "feedback": bar_chart(
            list(data["feedback"].items()), replies.text("adviser.chart_feedback")
        ),
    }
    return render(request, "analytics.html", data=data, charts=charts)


@page(admin=True)
async def audit_page(request: Request) -> HTTPResponse:
    rows = await asyncio.to_thread(_ctx(request).accounts.audit_log)
    return render(request, "audit.html", rows=rows)


# --- the app ----------------------------------------------------------------------------------
async def static(request: Request, name: str) -> HTTPResponse:
    files = {"console.css": "text/css", "console.js": "text/javascript"}
    if name not in files:
        raise NotFound("No such file.")
    body = (HERE / "static" / name).read_bytes()
    return raw(body, content_type=f"{files[name]}; charset=utf-8", headers=SECURITY_HEADERS)


async def health(request: Request) -> HTTPResponse:
    return json_response({"status": "ok"})


async def handle_error(request: Request, problem: Exception) -> HTTPResponse:
    if isinstance(problem, (PageError, DeskError)):
        status, message = problem.status, str(problem)
    elif isinstance(problem, CaseError):
        status, message = problem.code, str(problem)
    elif isinstance(problem, SanicException):
        status, message = (
            problem.status_code,
            str(problem) or replies.text("adviser.request_failed"),
        )
    else:
        logger.exception("Unexpected error on %s %s", request.method, request.path)
        status, message = 500, replies.text("adviser.server_error")
    if request.headers.get("x-csrf-token") or request.path.endswith(".json"):
        return json_response({"error": message}, status=status, headers=SECURITY_HEADERS)
    return render(request, "error.html", status=status, message=message, code=status)


def create_app(settings: ConsoleSettings, client: RasaClient | None = None) -> Sanic:
    app = Sanic(f"sen_console_{next(_app_numbers)}")
    app.config.REQUEST_MAX_SIZE = 64 * 1024
    app.ctx.settings = settings
    app.ctx.templates = _environment()
    app.ctx.accounts = Accounts(settings.db_url)
    app.ctx.store = CaseStore(settings.db_url)
    app.ctx.desk = HandoffDesk(
        app.ctx.store, client or RasaClient(settings.rasa_url, settings.rasa_jwt_secret)
    )
    app.ctx.transcripts = TranscriptStore(settings.events_db_url, settings.db_url)
    app.ctx.corrections = Corrections(settings.db_url)
    app.ctx.eraser = Eraser(settings)
    # The topics an adviser can pick, read once (not from disk on every request).
    app.ctx.articles = sorted(expected_article_ids() or ())
    app.ctx.intents = sorted(
        {intent_for_article(a) for a in app.ctx.articles}
        | {OUT_OF_SCOPE_INTENT, REQUEST_HUMAN_INTENT, SAFEGUARDING_INTENT}
        | set(_beyond_guidance_intents())
    )
    routes: list[tuple[Handler, str, list[str]]] = [
        (login_form, "/login", ["GET"]),
        (login, "/login", ["POST"]),
        (logout, "/logout", ["POST"]),
        (queue, "/", ["GET"]),
        (availability, "/availability", ["POST"]),
        (show_case, "/cases/<case_id:int>", ["GET"]),
        (case_messages, "/cases/<case_id:int>/messages.json", ["GET"]),
        (claim, "/cases/<case_id:int>/claim", ["POST"]),
        (send, "/cases/<case_id:int>/messages", ["POST"]),
        (close, "/cases/<case_id:int>/close", ["POST"]),
        (conversations, "/conversations", ["GET"]),
        (export_range, "/conversations.csv", ["GET"]),
        (conversation, "/conversations/<conversation_id>", ["GET"]),
        (reveal, "/conversations/<conversation_id>/reveal", ["POST"]),
        (export_text, "/conversations/<conversation_id>/export.txt", ["GET"]),
        (export_json, "/conversations/<conversation_id>/export.json", ["GET"]),
        (correct, "/conversations/<conversation_id>/turns/<index:int>/correct", ["POST"]),
        (delete_conversation, "/conversations/<conversation_id>/delete", ["POST"]),
        (corrections_page, "/corrections", ["GET"]),
        (export_corrections, "/corrections/export", ["POST"]),
        (gaps, "/gaps", ["GET"]),
        (analytics, "/analytics", ["GET"]),
        (audit_page, "/audit", ["GET"]),
        (static, "/static/<name>", ["GET"]),
        (health, "/health", ["GET"]),
    ]
    for handler, uri, methods in routes:
        app.add_route(handler, uri, methods=methods, name=f"{handler.__name__}_{methods[0]}")
    app.error_handler.add(Exception, handle_error)
    quiet_refusals()  # a GET with a body is a WARNING, not an ERROR
    return app


def _beyond_guidance_intents() -> list[str]:
    from bot.assistant.responder import BEYOND_GUIDANCE_TOPICS

    return list(BEYOND_GUIDANCE_TOPICS)
