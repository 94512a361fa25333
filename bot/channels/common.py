"""What the messaging channels share: the webhook's checks, talking to a platform's API, splitting
long messages and turning buttons into numbered options.

Every webhook call goes through the same gate (``WebhookInput``), in this order, so that nothing a
caller sends is read before it is known to come from the platform:

1. channel off (its settings are not in the environment): 404 "channel not configured";
2. body over 64 KB: 413;
3. the platform's proof of origin missing or wrong: 403, logged with the channel and the reason
   but never the body, and nothing reaches Rasa;
4. a verified payload that is not what the platform documents: 400 (a short reason, no trace);
5. each message, once (platforms retry, so their message ids are remembered for a while), goes to
   Rasa as the parent's ``UserMessage`` (a "/" payload only if it is one of the assistant's
   buttons, pressed or typed: bot.channels.payloads), unless the conversation is over
   ``SEN_RATE_LIMIT`` (bot.channels.limits): then the parent is told, once per window, to wait
   a moment (a reply for every refused message would itself flood them, and each SMS costs),
   and Rasa never sees it.

Replies go through an ``OutputChannel`` that knows the recipient from the conversation id alone
(``telegram:<chat id>``, ``sms:p.<sealed number>``, ``whatsapp:p.…``, ``messenger:<PSID>``),
because Rasa also asks the input channel for one, with no request to hand, when an adviser's
message is appended through its HTTP API (``output_channel=latest``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import BotUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.assistant import replies
from bot.channels.limits import (
    RATE_LIMITED_REPLY,
    SharedFailure,
    rate_limiter,
    shared_redis,
    window_limiter,
)
from bot.channels.payloads import message_text
from bot.channels.trouble import handle_or_apologise
from bot.contract import clean_text
from bot.settings import load_settings
from bot.web import json_value

logger = logging.getLogger("bot.channels")

MAX_BODY_BYTES = 64 * 1024
API_TIMEOUT_SECONDS = 10.0
NOT_CONFIGURED = "channel not configured"
OPTIONS_LEAD = replies.text("channels.options_lead")
CHOOSE_TEXT = replies.text("channels.choose")  # the text of a message that has only buttons
UNSUPPORTED_REPLY = replies.text("channels.unsupported")
FAILED_REPLY = replies.text("channels.failed")
MAX_DISPLAY_CHARS = 200


# --- splitting long messages -----------------------------------------------------------------
# A sentence ends at . ! ? or … (and any closing quote or bracket) before white space; a line
# break is a boundary too. Pieces are cut *after* each boundary, so joined they give the text.
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)|\n")
_WORD = re.compile(r"\S+")


def utf16_length(text: str) -> int:
    """Telegram counts a message's length in UTF-16 code units (an emoji can be two)."""
    return len(text.encode("utf-16-le")) // 2


def _pieces(text: str, boundary: re.Pattern[str]) -> list[str]:
    pieces, start = [], 0
    for match in boundary.finditer(text):
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _pack(
    pieces: Iterable[str],
    limit: int,
    measure: Callable[[str], int],
    finer: Callable[[str], list[str]],
) -> list[str]:
    """Greedily join pieces into parts of at most ``limit``; a piece too long on its own is cut
    more finely (sentences into words, words into characters)."""
    parts: list[str] = []
    current = ""
    for piece in pieces:
        candidate = current + piece
        if measure(candidate.strip()) <= limit:
            current = candidate
            continue
        if current.strip():
            parts.append(current.strip())
        if measure(piece.strip()) <= limit:
            current = piece
        else:
            *whole, current = finer(piece.strip()) or [""]
            parts.extend(whole)
    if current.strip():
        parts.append(current.strip())
    return parts


def _cut_word(word: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    """Only a single "word" longer than a whole message (a pasted link) is ever cut."""
    parts, current, size = [], "", 0
    for character in word:
        width = measure(character)
        if size + width > limit and current:
            parts.append(current)
            current, size = "", 0
        current += character
        size += width
    return [*parts, current] if current else parts


def _split_words(text: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    return _pack(_pieces(text, _WORD), limit, measure, lambda word: _cut_word(word, limit, measure))


def split_message(
    text: str, limit: int, tail: str = "", measure: Callable[[str], int] = len
) -> list[str]:
    """The text in parts of at most ``limit`` (as ``measure`` counts), cut at sentence
    boundaries, else between words; ``tail`` (numbered options) always ends the last part, so
    the options are read together with the question they answer."""
    text = text.strip()
    whole = f"{text}\n\n{tail}" if text and tail else text or tail
    if measure(whole) <= limit:
        return [whole] if whole else []
    pieces = _pieces(text, _SENTENCE_END)
    if tail:
        if measure(tail) <= limit:
            pieces.append("\n\n" + tail)
        else:
            pieces.extend("\n" + line for line in tail.splitlines())
    return _pack(pieces, limit, measure, lambda piece: _split_words(piece, limit, measure))


# --- buttons and numbered options ------------------------------------------------------------
def clean_buttons(raw: object) -> list[dict[str, str]]:
    """Rasa's buttons (or quick replies) as ``{"title", "payload"}``; anything else dropped."""
    buttons = []
    for button in raw if isinstance(raw, list) else []:
        if isinstance(button, dict) and button.get("title") and button.get("payload"):
            buttons.append({"title": str(button["title"]), "payload": str(button["payload"])})
    return buttons


def numbered_options(buttons: list[dict[str, str]]) -> str:
    """Buttons as lines a parent can answer by number, on channels without buttons."""
    lines = [f"{number}. {button['title']}" for number, button in enumerate(buttons, 1)]
    return "\n".join([OPTIONS_LEAD, *lines]) if lines else ""


_NUMBER = re.compile(r"^\s*#?(\d{1,2})\s*[.)]?\s*$")


def option_number(text: str | None) -> int | None:
    """The number in a reply such as "2" (or "2." or " 2 "), or None."""
    match = _NUMBER.match(text or "")
    return int(match.group(1)) if match else None


def chosen_option(text: str | None, buttons: list[dict[str, str]]) -> dict[str, str] | None:
    """The button a numbered reply picks, or None."""
    number = option_number(text)
    if number is None or not 1 <= number <= len(buttons):
        return None
    return buttons[number - 1]


def last_bot_buttons(events: Iterable[object]) -> list[dict[str, str]]:
    """The buttons of the conversation's latest bot message, if it has any.

    Only the latest: once anything else has been said (an adviser joined, say), a bare number is
    what the parent typed, not a choice from options further up."""
    for event in reversed(list(events)):
        if isinstance(event, BotUttered):
            data = event.data or {}
            return clean_buttons(data.get("buttons") or data.get("quick_replies"))
    return []


async def tracker_buttons(app: Any, sender_id: str) -> list[dict[str, str]]:
    """The latest bot message's buttons, from Rasa's tracker store (as the widget's channel
    reaches the agent, through the Sanic app)."""
    agent = getattr(app.ctx, "agent", None)
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return []
    tracker = await store.retrieve(sender_id)
    return last_bot_buttons(tracker.events) if tracker is not None else []


# --- settings --------------------------------------------------------------------------------
def api_base_url(url: str, name: str) -> str | None:
    """A platform's API base URL (``name``: its variable; tests point it at a local recorder);
    None if unusable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        logger.warning("%s must be an http(s) URL; the channel stays off.", name)
        return None
    return url.rstrip("/")


# --- talking to a platform -------------------------------------------------------------------
class DeliveryError(Exception):
    """A message could not be handed to the platform. Says which platform, which call and what
    it answered; never the message, the recipient or a token."""


class PlatformApi:
    """POSTs to one platform's API with a short timeout, over one aiohttp session per event
    loop (Rasa runs one), closed when the server stops."""

    def __init__(self, platform: str, timeout: float = API_TIMEOUT_SECONDS) -> None:
        self.platform = platform
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _current_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._loop = loop
        return self._session

    async def post(
        self,
        call: str,
        url: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        auth: aiohttp.BasicAuth | None = None,
        error_detail: Callable[[Any], str] = lambda _: "",
    ) -> Any:
        """The platform's JSON answer; DeliveryError when it can't be reached or says no."""
        session = self._current_session()
        try:
            async with session.post(
                url, json=json_body, data=form, params=params, auth=auth
            ) as reply:
                status, raw = reply.status, await reply.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            # Not str(error): it can carry the URL, and Telegram's holds the bot token.
            raise DeliveryError(
                f"{self.platform} could not be reached for {call} ({type(error).__name__})."
            ) from None
        try:
            body = json_value(raw) if raw else {}
        except ValueError:
            body = None
        if not 200 <= status < 300:
            detail = error_detail(body) if body is not None else ""
            raise DeliveryError(
                f"{self.platform} refused {call}: HTTP {status}{f' ({detail})' if detail else ''}."
            )
        return body

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class ChannelOutput(OutputChannel):
    """Sends one bot message (text and buttons) the way the platform shows it best.

    ``strict``: raise when the platform refuses. Rasa's HTTP API uses the channel from
    ``get_output_channel()`` (an adviser's message): there a failure must reach the adviser, who
    can retry, and the event must not be stored as if delivered. While Rasa handles a parent's
    message a failure is logged instead: raising there would lose the parent's message from the
    tracker as well.
    """

    platform = ""

    def __init__(self, api: PlatformApi, strict: bool) -> None:
        self.api = api
        self.strict = strict

    async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, str]]) -> None:
        raise NotImplementedError

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        text = str(message.get("text") or "").strip()
        image = message.get("image")
        if isinstance(image, str) and image:
            text = f"{text}\n{image}".strip()
        buttons = clean_buttons(message.get("buttons") or message.get("quick_replies"))
        if not text and not buttons:
            return
        try:
            await self.deliver(recipient_id, text, buttons)
        except DeliveryError as problem:
            logger.error("%s", problem)
            if self.strict:
                raise

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"text": text, "buttons": buttons})

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"text": text, "buttons": quick_replies})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": image})


# --- receiving -------------------------------------------------------------------------------
class BadPayload(Exception):
    """A verified call whose payload is not what the platform documents (answered 400). The
    message is a fixed description, never the payload."""


class KindNotConfigured(Exception):
    """A verified call for a part of a channel that is off (WhatsApp when only SMS is set up)."""


@dataclass(frozen=True)
class Incoming:
    """One message from a parent, as the platform sent it."""

    sender_id: str  # the conversation id, namespaced per channel
    text: str | None  # None: a photo, voice note, sticker...: something other than text
    platform_id: str | None = None  # the platform's id for it, to ignore a retried delivery
    display: str | None = None  # the title of the button the parent pressed
    callback_id: str | None = None  # Telegram: the button press to acknowledge


class RecentIds:
    """The platform ids of recently handled messages: a platform that retries (a slow answer, a
    lost acknowledgement) must not make the parent's question count twice. Kept in this
    process; ``SharedRecentIds`` keeps them in Redis for several instances."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, key: str | None) -> bool:
        if not key:
            return True
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


class SharedRecentIds(RecentIds):
    """Recently handled platform ids in Redis (``SEN_LIMITS_REDIS_URL``): a retried delivery
    that nginx sends to the other Rasa instance is still recognised. Each id is kept for a day
    (platforms retry for minutes to hours). While Redis can't be reached, this process's own
    memory is used."""

    KEEP_SECONDS = 24 * 3600

    def __init__(self, client: Any, prefix: str) -> None:
        super().__init__()
        self.client = client
        self.prefix = prefix
        self._failure = SharedFailure(f"repeated deliveries ({prefix})")

    def first_time(self, key: str | None) -> bool:
        import redis

        if not key:
            return True
        try:
            added = self.client.set(f"{self.prefix}:{key}", 1, nx=True, ex=self.KEEP_SECONDS)
        except redis.RedisError as error:
            self._failure.failed(error)
            return super().first_time(key)
        self._failure.worked()
        super().first_time(key)  # remembered here too, for an outage that follows
        return bool(added)


def recent_ids(platform: str, env: Mapping[str, str] | None = None) -> RecentIds:
    url = load_settings(env).limits.redis_url
    if not url:
        return RecentIds()
    return SharedRecentIds(shared_redis(url), f"sen:seen:{platform}")


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json_value(body)  # nested too deeply: a ValueError too
    except ValueError:
        raise BadPayload("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadPayload("the body is not a JSON object")
    return payload


class WebhookInput(InputChannel):
    """A platform's webhook (``/webhooks/<name>/webhook``), verified before it is read.

    Subclasses give the settings (None: off), ``verify`` (why a call is refused, or None),
    ``parse`` and ``make_output``. Settings come from the environment only, so no secret is
    ever in credentials.yml."""

    platform = ""  # for people: "Telegram"
    channel_payloads: frozenset[str] = frozenset()  # payloads the channel itself makes

    def __init__(self, settings: Any | None) -> None:
        self.settings = settings
        self.api = PlatformApi(self.platform)
        self.recent = recent_ids(self.name())
        self.limiter = rate_limiter()
        # "please wait", once a window
        self.notices = window_limiter(1, self.limiter.window, purpose="notices")

    @classmethod
    def settings_from_env(cls, env: Mapping[str, str]) -> Any | None:
        raise NotImplementedError

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if credentials:
            logger.warning(
                "%s: settings in credentials.yml are ignored; the channel reads SEN_* "
                "environment variables (docs/settings.md).",
                cls.platform,
            )
        channel = cls(cls.settings_from_env(os.environ))
        if channel.configured:
            logger.info("%s channel is on: /webhooks/%s/webhook", cls.platform, cls.name())
        return channel

    @property
    def configured(self) -> bool:
        return self.settings is not None

    # --- for subclasses ----------------------------------------------------------------------
    def verify(self, request: Request) -> str | None:
        raise NotImplementedError

    def parse(self, request: Request) -> list[Incoming]:
        raise NotImplementedError

    def make_output(self, strict: bool) -> ChannelOutput:
        raise NotImplementedError

    def shows_numbers(self, buttons: list[dict[str, str]]) -> bool:
        """Whether this channel showed these buttons as numbered options."""
        return False

    async def acknowledge(self, incoming: Incoming) -> None:
        """Tell the platform a message was received, where it expects that (Telegram)."""

    def accepted(self) -> HTTPResponse:
        return response.text("ok")

    def add_routes(self, blueprint: Blueprint) -> None:
        """More routes (Messenger's subscription handshake)."""

    # --- Rasa's side -------------------------------------------------------------------------
    def get_output_channel(self) -> OutputChannel | None:
        return self.make_output(strict=True) if self.configured else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint(f"sen_{self.name()}_webhook", __name__)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            if not self.configured:
                return response.text(NOT_CONFIGURED, status=404)
            return response.json({"status": "ok"})

        @blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return await self.receive(request, on_new_message)

        @blueprint.listener("after_server_stop")
        async def close_api(*_: Any) -> None:
            await self.api.close()

        self.add_routes(blueprint)
        return blueprint

    def refuse(self, reason: str) -> HTTPResponse:
        # The reason only: never the body, headers or the secret that was expected.
        logger.warning("%s: refused an unverified webhook call (%s).", self.platform, reason)
        return response.text("forbidden", status=403)

    async def receive(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        if not self.configured:
            return response.text(NOT_CONFIGURED, status=404)
        if len(request.body or b"") > MAX_BODY_BYTES:
            logger.warning(
                "%s: refused a webhook call over %s bytes.", self.platform, MAX_BODY_BYTES
            )
            return response.text("payload too large", status=413)
        try:
            refusal = self.verify(request)
            if refusal is not None:
                return self.refuse(refusal)
            messages = self.parse(request)
        except BadPayload as problem:
            logger.warning("%s: a webhook call was malformed (%s).", self.platform, problem)
            return response.text(f"malformed payload: {problem}", status=400)
        except KindNotConfigured as problem:
            logger.warning("%s: %s", self.platform, problem)
            return response.text(NOT_CONFIGURED, status=404)
        output = self.make_output(strict=False)
        for incoming in messages:
            if not self.recent.first_time(incoming.platform_id):
                logger.info("%s: ignored a message delivered again.", self.platform)
                continue
            await self.acknowledge(incoming)
            if not self.limiter.allow(incoming.sender_id):
                logger.warning("%s: a conversation is over its rate limit.", self.platform)
                if self.notices.allow(incoming.sender_id):
                    await output.send_response(incoming.sender_id, {"text": RATE_LIMITED_REPLY})
                continue
            if incoming.text is None:
                await output.send_response(incoming.sender_id, {"text": UNSUPPORTED_REPLY})
                continue
            try:
                message = await self.user_message(request, incoming, output)
                # Rasa silent (action server down): the parent gets bot.channels.trouble's reply; an
                # error is left to the note below.
                await handle_or_apologise(
                    request.app, message, on_new_message, reraise=True, apologise_on_error=False
                )
            except Exception:  # the platform gets its 200 (else it retries); the parent a note
                logger.exception("%s: a parent's message could not be handled.", self.platform)
                await output.send_response(incoming.sender_id, {"text": FAILED_REPLY})
        return self.accepted()

    async def user_message(
        self, request: Request, incoming: Incoming, output: OutputChannel
    ) -> UserMessage:
        """The parent's message for Rasa; a number answering numbered options becomes the
        chosen button's payload, as if the parent had pressed it. Typed or pressed, text starting
        with "/" stays a payload only when it is one of the assistant's buttons' (or one of
        ``channel_payloads``): bot.channels.payloads."""
        text = message_text(clean_text(incoming.text or ""), self.channel_payloads)
        metadata: dict[str, Any] = {}
        if incoming.display:
            metadata["display"] = clean_text(incoming.display)[:MAX_DISPLAY_CHARS]
        if option_number(text) is not None:
            buttons = await tracker_buttons(request.app, incoming.sender_id)
            choice = chosen_option(text, buttons) if self.shows_numbers(buttons) else None
            if choice is not None:
                metadata.update(option=option_number(text), display=choice["title"])
                text = choice["payload"]
        return UserMessage(
            text, output, incoming.sender_id, input_channel=self.name(), metadata=metadata
        )
