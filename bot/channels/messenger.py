"""Facebook Messenger, through the Send API, with every webhook call's ``X-Hub-Signature-256``
verified.

Meta signs each call's body with the app secret: ``sha256=`` and the hex HMAC-SHA256. It is
compared in constant time; Rasa's own connector checks the older SHA-1 header with ``==``. The
subscription handshake (a GET with ``hub.verify_token``) is answered only for our verify token.

A conversation is ``messenger:<PSID>`` (the page-scoped id Meta gives the parent). Buttons become
quick replies. A quick reply shows at most 20 characters of its title, and most of our topic
titles are longer, so then the full titles are also listed, numbered, under the text, and a
reply that is just a number picks that option (as on SMS).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.facebook import Messenger
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import (
    CHOOSE_TEXT,
    NOT_CONFIGURED,
    BadPayload,
    ChannelOutput,
    DeliveryError,
    Incoming,
    PlatformApi,
    WebhookInput,
    api_base_url,
    json_object,
    numbered_options,
    split_message,
)
from bot.settings import load_settings

logger = logging.getLogger("bot.channels")

PREFIX = "messenger:"
TEXT_LIMIT = 2000  # a text message: 2000 characters
QUICK_REPLY_TITLE_CHARS = 20  # longer titles are cut short by Messenger
MAX_QUICK_REPLIES = 13
SIGNATURE_HEADER = "X-Hub-Signature-256"
_PSID = re.compile(r"^\d{1,32}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def hub_signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with a body: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(app_secret: str, body: bytes, header: str) -> bool:
    given = header.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(hub_signature(app_secret, body).encode(), given)


@dataclass(frozen=True)
class MessengerSettings:
    page_token: str
    app_secret: str
    verify_token: str
    api_url: str

    @property
    def send_url(self) -> str:
        return f"{self.api_url}/me/messages"


def messenger_settings(env: Mapping[str, str]) -> MessengerSettings | None:
    """The settings, or None (and why, logged once) when the channel is off."""
    given = load_settings(env).channels.messenger
    values = {
        "SEN_MESSENGER_PAGE_TOKEN": given.page_token,
        "SEN_MESSENGER_APP_SECRET": given.app_secret,
        "SEN_MESSENGER_VERIFY_TOKEN": given.verify_token,
    }
    if not any(values.values()):
        logger.info(
            "Messenger channel is off: set SEN_MESSENGER_PAGE_TOKEN, SEN_MESSENGER_APP_SECRET "
            "and SEN_MESSENGER_VERIFY_TOKEN to switch it on."
        )
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        logger.warning("Messenger channel is off: %s not set.", ", ".join(missing))
        return None
    api_url = api_base_url(given.api_url, "SEN_MESSENGER_API_URL")
    if api_url is None:
        return None
    return MessengerSettings(
        values["SEN_MESSENGER_PAGE_TOKEN"],
        values["SEN_MESSENGER_APP_SECRET"],
        values["SEN_MESSENGER_VERIFY_TOKEN"],
        api_url,
    )


def psid(sender_id: str) -> str:
    rest = sender_id[len(PREFIX) :] if sender_id.startswith(PREFIX) else ""
    if not _PSID.match(rest):
        raise DeliveryError(
            "Messenger can't deliver to this conversation: it is not a Messenger chat."
        )
    return rest


def short_title(title: str, limit: int = QUICK_REPLY_TITLE_CHARS) -> str:
    """A title that fits a quick reply, cut at a word with an ellipsis."""
    if len(title) <= limit:
        return title
    cut = title[: limit - 1]
    if title[limit - 1] != " " and " " in cut:  # not already at the end of a word
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-") + "\u2026"


def options_listed(buttons: list[dict[str, str]]) -> bool:
    """Whether the options are also listed, numbered, in the text: when a quick reply can't
    show a title in full, or there are more options than quick replies."""
    return len(buttons) > MAX_QUICK_REPLIES or any(
        len(button["title"]) > QUICK_REPLY_TITLE_CHARS for button in buttons
    )


def quick_replies(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {"content_type": "text", "title": short_title(b["title"]), "payload": b["payload"]}
        for b in buttons[:MAX_QUICK_REPLIES]
    ]


def _error_detail(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    return f"error {error.get('code')}" + (
        f"/{error['error_subcode']}" if error.get("error_subcode") else ""
    )


class MessengerOutput(ChannelOutput):
    platform = "Messenger"

    @classmethod
    def name(cls) -> str:
        return "messenger"

    def __init__(self, settings: MessengerSettings, api: PlatformApi, strict: bool) -> None:
        super().__init__(api, strict)
        self.settings = settings

    async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, str]]) -> None:
        recipient = psid(recipient_id)
        tail = numbered_options(buttons) if options_listed(buttons) else ""
        parts = split_message(text or CHOOSE_TEXT, TEXT_LIMIT, tail)
        replies = quick_replies(buttons)
        for number, part in enumerate(parts, 1):
            message: dict[str, Any] = {"text": part}
            if replies and number == len(parts):
                message["quick_replies"] = replies
            await self.api.post(
                "the Send API",
                self.settings.send_url,
                json_body={
                    "recipient": {"id": recipient},
                    "messaging_type": "RESPONSE",
                    "message": message,
                },
                params={"access_token": self.settings.page_token},
                error_detail=_error_detail,
            )


class MessengerInput(WebhookInput):
    platform = "Messenger"

    @classmethod
    def name(cls) -> str:
        return "messenger"

    @classmethod
    def settings_from_env(cls, env: Mapping[str, str]) -> MessengerSettings | None:
        return messenger_settings(env)

    def make_output(self, strict: bool) -> MessengerOutput:
        return MessengerOutput(self.settings, self.api, strict)

    def shows_numbers(self, buttons: list[dict[str, str]]) -> bool:
        return options_listed(buttons)

    def verify(self, request: Request) -> str | None:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            return f"no {SIGNATURE_HEADER} header"
        if not signature_matches(self.settings.app_secret, request.body or b"", header):
            return "the signature does not match"
        return None

    def parse(self, request: Request) -> list[Incoming]:
        payload = json_object(request.body)
        if payload.get("object") != "page":
            logger.info("Messenger: ignored a webhook call that is not for a page.")
            return []
        entries = payload.get("entry")
        if not isinstance(entries, list):
            raise BadPayload("entry is not a list")
        # Meta batches several events in one call: each is read on its own, so one that can't be
        # read (a postback from the chat plugin names a user_ref, not a page-scoped id) is
        # skipped, with a warning, and the others are still answered. Only a call in which
        # nothing could be read and something was malformed is refused (400).
        incoming: list[Incoming] = []
        problems: list[str] = []
        for entry in entries:
            events = entry.get("messaging", []) if isinstance(entry, dict) else None
            if not isinstance(events, list):
                problems.append("an entry's messaging is not a list")
                continue
            for event in events:
                try:
                    message = self._message(event)
                except BadPayload as problem:
                    problems.append(str(problem))
                    continue
                if message is not None:
                    incoming.append(message)
        if problems and not incoming:
            raise BadPayload(problems[0])
        for problem in problems:
            logger.warning("Messenger: skipped an event of a batch (%s).", problem)
        return incoming

    @staticmethod
    def _message(event: object) -> Incoming | None:
        """One messaging event as a parent's message; None for echoes, deliveries, reads."""
        if not isinstance(event, dict):
            raise BadPayload("a messaging event is not an object")
        sender = event.get("sender")
        sender_id = str(sender.get("id", "")) if isinstance(sender, dict) else ""
        message, postback = event.get("message"), event.get("postback")
        if not isinstance(message, dict) and not isinstance(postback, dict):
            return None
        if not _PSID.match(sender_id):
            if isinstance(sender, dict) and "user_ref" in sender:  # the chat plugin's visitors
                raise BadPayload("an event names a user_ref, not a page-scoped id")
            raise BadPayload("a message has no sender id")
        conversation = f"{PREFIX}{sender_id}"
        if isinstance(message, dict):
            if message.get("is_echo"):  # our own message, echoed back
                return None
            mid = str(message.get("mid") or "") or None
            # Rasa's own parsing of the two kinds of text: a quick reply's payload first.
            if Messenger._is_quick_reply_message(event):
                payload = str(message["quick_reply"]["payload"])
                title = message.get("text")
                return Incoming(conversation, payload, mid, str(title) if title else None)
            if Messenger._is_user_message(event) and isinstance(message.get("text"), str):
                return Incoming(conversation, message["text"], mid)
            return Incoming(conversation, None, mid)  # attachments, stickers
        payload, title = postback.get("payload"), postback.get("title")
        if not isinstance(payload, str) or not payload:
            raise BadPayload("a postback has no payload")
        mid = str(postback.get("mid") or "") or None
        return Incoming(conversation, payload, mid, str(title) if title else None)

    def add_routes(self, blueprint: Blueprint) -> None:
        @blueprint.route("/webhook", methods=["GET"])
        async def subscribe(request: Request) -> HTTPResponse:
            """Meta's subscription handshake: echo the challenge for our verify token only."""
            if not self.configured:
                return response.text(NOT_CONFIGURED, status=404)
            mode = request.args.get("hub.mode")
            token = request.args.get("hub.verify_token") or ""
            challenge = request.args.get("hub.challenge") or ""
            if mode != "subscribe" or not _CHALLENGE.match(challenge):
                return response.text("malformed payload: not a subscription request", status=400)
            expected = self.settings.verify_token.encode()
            if not hmac.compare_digest(token.encode("utf-8", "replace"), expected):
                return self.refuse("the verify token does not match")
            logger.info("Messenger: webhook subscription confirmed.")
            return response.text(challenge)
