"""The website widget's channel: socket.io, with conversation ids issued and signed by the server.

Rasa's own socket.io channel lets the page choose its conversation id, so anyone who learns or
guesses an id can read replies meant for someone else and write into their conversation. Here the
server issues the id (random, 144 bits) together with a signed token; every event from the page
carries the token, and an event whose token does not verify is refused. The page keeps the token
in ``sessionStorage``: the conversation survives a reload in the same tab, and a dropped
connection is picked up again, with the messages missed in between, when the socket reconnects.

Events (socket.io path ``/socket.io``):

| from the page | data | answer |
|---|---|---|
| ``session_request`` | ``{token?}`` | ``session_confirm {session_id, token, new}``; ``history`` |
| ``user_uttered`` | ``{token, message, display?, client_id?}`` | ack ``{ok, error?}``; replies |

``error`` is ``session`` (get a new session), ``empty``, ``too_long`` or ``rate_limited`` (over
``SEN_RATE_LIMIT`` for this conversation, bot.channels.limits; the ack also carries the sentence to
show). A ``session_request`` for a new conversation is refused with ``rate_limited`` (and the
sentence) in its ack beyond 5 per socket in 10 minutes or ``SEN_SESSION_LIMIT`` per client
address; its ack is otherwise ``{ok: true}``.
| ``feedback`` | ``{token, message_id, article?, helpful}`` | ack ``{ok, error?, helpful?}`` |
| ``queue_status`` | ``{token}`` | ack ``{status, position?, adviser?, reference?}`` |

Feedback is taken only for an answer (a bot message with an article) that this conversation's
tracker holds, and once: ``error`` is ``invalid`` (a field missing, of the wrong type or size, or
one the widget never sends; an article other than the answer's), ``unknown_message`` (no answer
with that id in this conversation), ``already_given`` (with the ``helpful`` that stands) or
``server``.

From the server: ``bot_uttered`` ``{id, from: bot|adviser, name?, text, buttons, article?,
timestamp}``, ``typing`` ``{on}``, ``history`` ``{messages}``. Message ids are derived from the
event's timestamp and text, so a message received live and again in the history is shown once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint
from rasa.core.lock_store import LockError
from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from socketio import AsyncRedisManager, AsyncServer

from bot.assistant import replies
from bot.channels.limits import (
    RATE_LIMITED,
    RATE_LIMITED_REPLY,
    SESSIONS_LIMITED_REPLY,
    SOCKET_SESSIONS,
    RateLimiter,
    rate_limiter,
    session_limiter,
)
from bot.channels.payloads import message_text
from bot.channels.tokens import Tokens
from bot.channels.trouble import handle_or_apologise
from bot.contract import clean_text, message_id
from bot.settings import load_settings, stored_secret
from bot.web import client_address

logger = logging.getLogger(__name__)

CHANNEL = "widget"
MAX_MESSAGE_CHARS = 4000
MAX_DISPLAY_CHARS = 200
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ARTICLE_ID = re.compile(r"^[a-z0-9-]{1,64}$")
_MESSAGE_ID = re.compile(r"^[0-9a-f]{16}$")  # bot.contract.message_id
FEEDBACK_FIELDS = frozenset({"token", "message_id", "article", "helpful"})


# --- messages --------------------------------------------------------------------------------
def _adviser_text(text: str, name: str) -> str:
    """Adviser messages carry "Name (adviser): " for channels that show only text; the widget
    shows who wrote them separately."""
    prefix = replies.text("handoff.adviser_prefix", first_name=name)
    return text[len(prefix) :] if name and text.startswith(prefix) else text


def _buttons(message: dict) -> list[dict]:
    raw = message.get("buttons") or message.get("quick_replies") or []
    buttons = []
    for button in raw if isinstance(raw, list) else []:
        if isinstance(button, dict) and button.get("title") and button.get("payload"):
            buttons.append({"title": str(button["title"]), "payload": str(button["payload"])})
    return buttons


def bot_payload(message: dict) -> dict | None:
    """What the widget gets for one bot (or adviser) message: Rasa's message dict, with the
    event's metadata merged in (``from``/``name`` for advisers, ``article`` for answers)."""
    custom = message.get("custom") if isinstance(message.get("custom"), dict) else {}
    marking = {**custom, **{k: message[k] for k in ("from", "name") if k in message}}
    text = str(message.get("text") or "")
    buttons = _buttons(message)
    if not text and not buttons:
        return None
    timestamp = message.get("timestamp")
    payload: dict[str, Any] = {
        "id": message_id(timestamp, text),
        "from": "bot",
        "text": text,
        "buttons": buttons,
        "timestamp": timestamp,
    }
    if marking.get("from") == "adviser":
        name = str(marking.get("name") or "")
        payload.update({"from": "adviser", "name": name, "text": _adviser_text(text, name)})
    elif isinstance(message.get("article"), str):
        payload["article"] = message["article"]
    return payload


def history(events: list[dict], feedback: dict[str, bool] | None = None) -> list[dict]:
    """The conversation as the widget shows it, from the tracker's events (as dicts)."""
    feedback = feedback or {}
    messages = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            metadata = event.get("metadata") or {}
            text = str(metadata.get("display") or event.get("text") or "")
            if not text:
                continue
            client_id = metadata.get("client_id")
            messages.append(
                {
                    "id": client_id or message_id(event.get("timestamp"), text),
                    "from": "parent",
                    "text": text,
                    "timestamp": event.get("timestamp"),
                }
            )
        elif kind == "bot":
            payload = _bot_event_payload(event)
            if payload is None:
                continue
            if payload["id"] in feedback:
                payload["helpful"] = feedback[payload["id"]]
            messages.append(payload)
    return messages


def _bot_event_payload(event: dict) -> dict | None:
    """What the widget was sent for a bot event of the tracker (as a dict)."""
    message = {**(event.get("data") or {}), **(event.get("metadata") or {})}
    message.update(text=event.get("text"), timestamp=event.get("timestamp"))
    return bot_payload(message)


def answer_article(events: list[dict], message: str) -> str | None:
    """The article of the answer with id ``message`` among a conversation's events, or None
    when no answer of theirs has that id (an adviser's message, the introduction and other
    messages without an article are not answers)."""
    for event in events:
        if event.get("event") != "bot":
            continue
        payload = _bot_event_payload(event)
        if payload is not None and payload["id"] == message and payload["from"] == "bot":
            return payload.get("article")
    return None


def feedback_request(data: object) -> tuple[str, str | None, bool] | None:
    """``(message_id, article or None, helpful)`` from a ``feedback`` event's data, or None when
    it is not what the widget sends: only its fields, each of its type and size."""
    if not isinstance(data, dict) or not set(data) <= FEEDBACK_FIELDS:
        return None
    message, article, helpful = data.get("message_id"), data.get("article"), data.get("helpful")
    if not isinstance(message, str) or not _MESSAGE_ID.match(message):
        return None
    if article is not None and not (isinstance(article, str) and _ARTICLE_ID.match(article)):
        return None
    if not isinstance(helpful, bool):
        return None
    return message, article, helpful


# --- the output channel ----------------------------------------------------------------------
class WidgetOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, sio: AsyncServer) -> None:
        self.sio = sio

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        payload = bot_payload(dict(message))
        if payload is not None:
            await self.sio.emit("bot_uttered", payload, room=recipient_id)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, **kwargs})


# --- the input channel -----------------------------------------------------------------------
@lru_cache(maxsize=1)
def _case_store():
    from bot.cases.store import CaseStore

    return CaseStore(load_settings().handoff_db_url)


def allowed_origins() -> list[str]:
    """Pages allowed to open the socket (SEN_WIDGET_ORIGINS, comma-separated)."""
    return list(load_settings().widget.allowed_origins)


def _client_manager() -> AsyncRedisManager | None:
    """With several Rasa instances, a message emitted by one (an adviser's reply sent through
    another instance's HTTP API) must reach a parent connected to another: socket.io shares its
    rooms through Redis when SEN_SOCKETIO_REDIS_URL is set (the production profile sets it)."""
    url = load_settings().widget.socketio_redis_url
    return AsyncRedisManager(url, channel="sen-widget") if url else None


class _Blueprint(SocketBlueprint):
    """Keeps the Sanic app, to reach the agent (tracker store, lock store), and serves engine.io
    through a handler Sanic knows may end a websocket with no response."""

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        self.ctx.app = app
        add_engineio_route(app, self.ctx.sio, self.ctx.socketio_path)
        Blueprint.register(self, app, options)  # not SocketBlueprint's: its route is added above


def add_engineio_route(app: Sanic, sio: AsyncServer, path: str) -> None:
    """engine.io's own Sanic route (``sio.attach``) is its bound ``handle_request``, which returns
    None once a websocket closes; Sanic then raised "Invalid response type None" and logged an
    ERROR with a traceback for every widget that disconnected. Sanic accepts None only from a
    handler marked ``is_websocket``: so this one is (a polling request still gets its response)."""

    async def engineio(request: Request) -> HTTPResponse | None:
        return await sio.eio.handle_request(request)

    engineio.is_websocket = True  # type: ignore[attr-defined]
    app.add_route(
        engineio, f"/{path.strip('/')}/", methods=["GET", "POST", "OPTIONS"], name="engineio"
    )
    app.enable_websocket()


class WidgetInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WidgetInput:
        return cls(**(credentials or {}))

    def __init__(self, socketio_path: str = "/socket.io") -> None:
        self.socketio_path = socketio_path
        self.sio: AsyncServer | None = None
        settings = load_settings()
        secret = settings.widget.secret or stored_secret(settings.data_dir, "widget-secret")
        self.tokens = Tokens(secret.encode())
        self.limiter = rate_limiter()
        self.sessions = session_limiter()  # new conversations per client address
        self.socket_sessions = RateLimiter(*SOCKET_SESSIONS, max_keys=20_000)  # per socket

    def get_output_channel(self) -> OutputChannel | None:
        return WidgetOutput(self.sio) if self.sio is not None else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> SocketBlueprint:
        sio = AsyncServer(
            async_mode="sanic",
            cors_allowed_origins=allowed_origins(),
            max_http_buffer_size=64 * 1024,
            client_manager=_client_manager(),
        )
        self.sio = sio
        blueprint = _Blueprint(sio, self.socketio_path, "widget_webhook", __name__)
        output = WidgetOutput(sio)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return json({"status": "ok"})

        async def join(sid: str, conversation: str) -> None:
            joined = sio.enter_room(sid, conversation)
            if inspect.isawaitable(joined):  # python-socketio >= 5.10
                await joined

        def conversation_of(data: object) -> str | None:
            return self.tokens.verify(data.get("token")) if isinstance(data, dict) else None

        @sio.on("session_request")
        async def session_request(sid: str, data: object = None) -> dict | None:
            conversation = conversation_of(data)
            new = conversation is None
            if new:
                if not self._may_start(sio, sid):
                    logger.info("Widget: refused a new conversation over its limit.")
                    return {"ok": False, "error": RATE_LIMITED, "message": SESSIONS_LIMITED_REPLY}
                conversation, token = self.tokens.issue()
            else:
                token = self.tokens.token_for(conversation)  # refreshed: 24 h from now
            await join(sid, conversation)
            await sio.emit(
                "session_confirm",
                {"session_id": conversation, "token": token, "new": new},
                room=sid,
            )
            try:
                if new:
                    await self._start_session(blueprint.ctx.app, conversation, output)
                else:
                    messages = await self._history(blueprint.ctx.app, conversation)
                    await sio.emit("history", {"messages": messages}, room=sid)
            except Exception:  # the socket must stay usable: the parent can still type
                logger.exception("Could not start or restore widget conversation")
            return {"ok": True}

        @sio.on("user_uttered")
        async def user_uttered(sid: str, data: object = None) -> dict:
            conversation = conversation_of(data)
            if conversation is None:
                return {"ok": False, "error": "session"}
            text = data.get("message") if isinstance(data, dict) else None
            # "/..." is a button press only for the assistant's buttons (bot.channels.payloads)
            text = message_text(clean_text(text)) if isinstance(text, str) else None
            if not isinstance(text, str) or not text.strip():
                return {"ok": False, "error": "empty"}
            if len(text) > MAX_MESSAGE_CHARS:
                return {"ok": False, "error": "too_long", "limit": MAX_MESSAGE_CHARS}
            if not self.limiter.allow(conversation):
                return {"ok": False, "error": RATE_LIMITED, "message": RATE_LIMITED_REPLY}
            metadata: dict[str, str] = {}
            display = data.get("display")
            display = clean_text(display) if isinstance(display, str) else None
            if display and display.strip():
                metadata["display"] = display.strip()[:MAX_DISPLAY_CHARS]
            client_id = data.get("client_id")
            if isinstance(client_id, str) and _CLIENT_ID.match(client_id):
                metadata["client_id"] = client_id
            await join(sid, conversation)
            await sio.emit("typing", {"on": True}, room=conversation)
            try:
                # No reply from Rasa (action server down), or an error: a polite reply
                # (bot.channels.trouble); an error also makes the page show "not sent".
                await handle_or_apologise(
                    blueprint.ctx.app,
                    UserMessage(
                        text.strip(),
                        WidgetOutput(sio),  # one per message: bot.channels.trouble counts its sends
                        conversation,
                        input_channel=CHANNEL,
                        metadata=metadata,
                    ),
                    on_new_message,
                    reraise=True,
                )
            except Exception:  # the page shows "not sent" and the parent can try again
                logger.exception("A widget message could not be handled")
                return {"ok": False, "error": "server"}
            finally:
                await sio.emit("typing", {"on": False}, room=conversation)
            return {"ok": True}

        @sio.on("feedback")
        async def feedback(sid: str, data: object = None) -> dict:
            conversation = conversation_of(data)
            if conversation is None:
                return {"ok": False, "error": "session"}
            request = feedback_request(data)
            if request is None:
                return {"ok": False, "error": "invalid"}
            try:
                return await self._feedback(blueprint.ctx.app, conversation, *request)
            except LockError:  # the conversation stayed busy: the widget says "try again"
                logger.warning("Widget feedback: the conversation's lock was not released")
                return {"ok": False, "error": "server"}
            except Exception:  # the tracker store or the case store failed: not the parent's doing
                logger.exception("Widget feedback could not be checked or stored")
                return {"ok": False, "error": "server"}

        @sio.on("queue_status")
        async def queue_status(sid: str, data: object = None) -> dict:
            conversation = conversation_of(data)
            if conversation is None:
                return {"status": "none"}
            return await asyncio.to_thread(_queue_status, conversation)

        return blueprint

    def _may_start(self, sio: AsyncServer, sid: str) -> bool:
        """Whether this socket may start one more conversation: at most ``SOCKET_SESSIONS`` per
        socket, and ``SEN_SESSION_LIMIT`` per client address (bot.channels.limits)."""
        if not self.socket_sessions.allow(sid):
            return False
        request = (sio.get_environ(sid) or {}).get("sanic.request")
        address = client_address(request) if request is not None else ""
        return self.sessions.allow(address)

    async def _start_session(self, app: Sanic, conversation: str, output: OutputChannel) -> None:
        """Run action_session_start now, so the introduction comes before the first message."""
        agent = app.ctx.agent
        if agent is None or agent.processor is None:
            return
        async with agent.lock_store.lock(conversation):
            tracker = await agent.processor.fetch_tracker_and_update_session(conversation, output)
            await agent.processor.save_tracker(tracker)

    async def _feedback(
        self, app: Sanic, conversation: str, message: str, article: str | None, helpful: bool
    ) -> dict:
        """Store feedback on an answer this conversation was sent, once; the article stored is
        the one the answer carried, not what the page says."""
        agent = app.ctx.agent
        if agent is None or agent.tracker_store is None:
            return {"ok": False, "error": "server"}
        found = await self._answer_article(agent, conversation, message)
        if found is None and agent.lock_store is not None:
            # The answer is sent before the turn's tracker is saved, and the turn holds the
            # conversation's lock until then: a quick click waits for it and looks again.
            async with agent.lock_store.lock(conversation):
                found = await self._answer_article(agent, conversation, message)
        if found is None:
            return {"ok": False, "error": "unknown_message"}
        if article is not None and article != found:
            return {"ok": False, "error": "invalid"}
        store = _case_store()
        if await asyncio.to_thread(store.record_feedback, conversation, message, found, helpful):
            return {"ok": True}
        given = await asyncio.to_thread(store.feedback_for, conversation)
        return {"ok": False, "error": "already_given", "helpful": given.get(message)}

    @staticmethod
    async def _answer_article(agent: Any, conversation: str, message: str) -> str | None:
        tracker = await agent.tracker_store.retrieve_full_tracker(conversation)
        if tracker is None:
            return None
        return answer_article([event.as_dict() for event in tracker.events], message)

    async def _history(self, app: Sanic, conversation: str) -> list[dict]:
        agent = app.ctx.agent
        if agent is None or agent.tracker_store is None:
            return []
        # The whole conversation, every session of it (retrieve() gives the last one only, and
        # the introduction comes just before the session_started event).
        tracker = await agent.tracker_store.retrieve_full_tracker(conversation)
        if tracker is None:
            return []
        events = [event.as_dict() for event in tracker.events]
        feedback = await asyncio.to_thread(_case_store().feedback_for, conversation)
        return history(events, feedback)


def _queue_status(conversation: str) -> dict:
    """Where the parent stands with an adviser: in the queue (and their place), or talking to
    one (their first name), or waiting for a call-back."""
    store = _case_store()
    case = store.open_case_for(conversation)
    if case is None:
        return {"status": "none"}
    if case.status.value == "callback_requested":
        return {"status": "callback_requested", "reference": case.reference}
    if not case.paused:  # a case noted while no adviser was on duty: no live queue
        return {"status": "none"}
    if case.status.value == "live":
        adviser = store.adviser(case.adviser) if case.adviser else None
        return {
            "status": "live",
            "adviser": adviser.first_name if adviser else replies.text("handoff.unnamed_adviser"),
            "reference": case.reference,
        }
    return {
        "status": "waiting",
        "position": store.people_ahead(case) + 1,
        "reference": case.reference,
    }
