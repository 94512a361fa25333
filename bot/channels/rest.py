"""The REST channel, with conversation ids issued and signed by the server.

Rasa's own REST channel takes the conversation id (``sender``) from the caller, so anyone who
learns or guesses a parent's id can write into that conversation and read the bot's replies to
it. This channel keeps Rasa's name, ``rest`` (so its URL, ``/webhooks/rest/``, and the channel
recorded in trackers and cases stay the same), and replaces Rasa's entry in credentials.yml:

| request | body | answer |
|---|---|---|
| ``POST /webhooks/rest/session`` | none, or ``{"token"}`` to renew | ``{"sender", "token"}`` |
| ``POST /webhooks/rest/webhook`` | ``{"sender", "token", "message"}`` | Rasa's replies, as a list |

The id is random (144 bits) and the token is an HMAC over it and the time it was issued
(``bot.channels.widget.Tokens``, with this channel's own secret, ``SEN_REST_SECRET``), valid for
24 hours; renewing it keeps the conversation. A message whose token does not verify for its
sender is refused with 403; a body over 64 KB with 413; a conversation over ``SEN_RATE_LIMIT``
with 429 and a sentence to show the parent, and so is a new session beyond ``SEN_SESSION_LIMIT``
for the client's address. The caller cannot choose the input channel or add
metadata, as Rasa's channel allows, and a message starting with "/" is taken as a button press only
when it is one of the assistant's buttons (bot.channels.payloads).
"""

from __future__ import annotations

import logging
import secrets
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.limits import (
    MAX_REQUEST_BYTES,
    RATE_LIMITED,
    RATE_LIMITED_REPLY,
    SESSIONS_LIMITED_REPLY,
    rate_limiter,
    session_limiter,
)
from bot.channels.payloads import message_text
from bot.channels.tokens import Tokens
from bot.channels.trouble import handle_or_apologise
from bot.contract import clean_text
from bot.settings import load_settings, stored_secret
from bot.web import client_address, json_value

logger = logging.getLogger(__name__)

CHANNEL = "rest"
SESSION_REFUSED = (
    "Start a conversation first: POST /webhooks/rest/session gives a sender and token."
)


def _error(status: int, error: str, message: str, **headers: str) -> HTTPResponse:
    return response.json({"error": error, "message": message}, status=status, headers=headers)


class SignedRestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SignedRestInput:
        return cls()

    def __init__(self, secret: str | None = None) -> None:
        if not secret:
            settings = load_settings()
            secret = settings.channels.rest_secret or stored_secret(
                settings.data_dir, "rest-secret"
            )
        self.tokens = Tokens(secret.encode())
        self.limiter = rate_limiter()
        self.sessions = session_limiter()  # new conversations per client address

    def issue(self) -> tuple[str, str]:
        sender = "r" + secrets.token_urlsafe(18)
        return sender, self.tokens.token_for(sender)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("sen_rest_webhook", __name__)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @blueprint.route("/session", methods=["POST"])
        async def session(request: Request) -> HTTPResponse:
            if len(request.body or b"") > MAX_REQUEST_BYTES:
                return _error(413, "too_large", "The request is too large.")
            body = _json_object(request.body)
            sender = self.tokens.verify(body.get("token")) if body else None
            if sender is None:
                address = client_address(request)
                if not self.sessions.allow(address):
                    logger.info("REST: refused a new conversation over SEN_SESSION_LIMIT.")
                    retry = str(max(1, round(self.sessions.retry_after(address))))
                    return _error(
                        429, RATE_LIMITED, SESSIONS_LIMITED_REPLY, **{"Retry-After": retry}
                    )
                sender, token = self.issue()
            else:
                token = self.tokens.token_for(sender)  # renewed: 24 hours from now
            return response.json({"sender": sender, "token": token})

        @blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if len(request.body or b"") > MAX_REQUEST_BYTES:
                return _error(413, "too_large", "The request is too large.")
            body = _json_object(request.body)
            if body is None:
                return _error(400, "invalid", "The body must be a JSON object.")
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or self.tokens.verify(body.get("token")) != sender:
                logger.warning("REST: refused a message without a valid token for its sender.")
                return _error(403, "session", SESSION_REFUSED)
            if not isinstance(text, str):
                return _error(400, "invalid", "The message must be a string.")
            if not self.limiter.allow(sender):
                retry = max(1, round(self.limiter.retry_after(sender)))
                return _error(429, RATE_LIMITED, RATE_LIMITED_REPLY, **{"Retry-After": str(retry)})
            collector = CollectingOutputChannel()
            text = message_text(clean_text(text))  # "/..." only for the assistant's buttons
            message = UserMessage(text, collector, sender, input_channel=CHANNEL)
            try:
                # Rasa silent (action server down) or failing (Redis, PostgreSQL): the replies
                # are bot.channels.trouble's polite one.
                await handle_or_apologise(request.app, message, on_new_message)
            except CancelledError:
                logger.error("REST: a message timed out.")
            return response.json(collector.messages)

        return blueprint


def _json_object(body: bytes | None) -> dict[str, Any] | None:
    try:
        value = json_value(body)  # a body nested too deeply is bad JSON, not a crash
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
