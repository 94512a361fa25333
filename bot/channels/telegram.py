"""Telegram, through the Bot API, with every webhook call verified by its secret token.

When the webhook is registered (``python -m bot.channels telegram-webhook URL``, which calls
``setWebhook`` with ``secret_token``), Telegram sends that token in the
``X-Telegram-Bot-Api-Secret-Token`` header of every update; a call without it, or with another
value (compared in constant time), is refused. Rasa's own Telegram connector only checks the bot's
user name against the API, which tells nothing about who made the call.

Private chats only: a bot added to a group would mix several people's messages in one
conversation. A conversation is ``telegram:<chat id>``; buttons are an inline keyboard (one
button a row, so long titles stay readable) whose presses come back as ``callback_query``.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sanic.request import Request

from bot.channels.common import (
    CHOOSE_TEXT,
    BadPayload,
    ChannelOutput,
    DeliveryError,
    Incoming,
    PlatformApi,
    WebhookInput,
    api_base_url,
    json_object,
    split_message,
    utf16_length,
)
from bot.settings import load_settings

logger = logging.getLogger("bot.channels")

PREFIX = "telegram:"
TEXT_LIMIT = 4096  # sendMessage: 1-4096 characters (UTF-16 code units)
CALLBACK_DATA_BYTES = 64  # callback_data: 1-64 bytes
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MIN_SECRET_CHARS = 16
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what setWebhook accepts
_BOT_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_CHAT_ID = re.compile(r"^-?\d{1,20}$")
# Telegram's own commands: /start opens every new chat with a bot.
COMMANDS = {"/start": "/greet", "/help": "/greet"}
ALLOWED_UPDATES = ["message", "callback_query"]


@dataclass(frozen=True)
class TelegramSettings:
    token: str
    secret_token: str
    api_url: str

    def method_url(self, method: str) -> str:
        return f"{self.api_url}/bot{self.token}/{method}"


def telegram_settings(env: Mapping[str, str]) -> TelegramSettings | None:
    """The settings, or None (and why, logged once) when the channel is off."""
    given = load_settings(env).channels.telegram
    token, secret = given.token, given.secret_token
    if not token and not secret:
        logger.info(
            "Telegram channel is off: set SEN_TELEGRAM_TOKEN and SEN_TELEGRAM_SECRET_TOKEN to "
            "switch it on."
        )
        return None
    values = {"SEN_TELEGRAM_TOKEN": token, "SEN_TELEGRAM_SECRET_TOKEN": secret}
    missing = [name for name, value in values.items() if not value]
    if missing:
        logger.warning("Telegram channel is off: %s is not set.", " and ".join(missing))
        return None
    if not _BOT_TOKEN.match(token):
        logger.warning("Telegram channel is off: SEN_TELEGRAM_TOKEN is not a bot token.")
        return None
    if not _SECRET.match(secret) or len(secret) < MIN_SECRET_CHARS:
        logger.warning(
            "Telegram channel is off: SEN_TELEGRAM_SECRET_TOKEN must be %s-256 characters, "
            "only A-Z, a-z, 0-9, _ and -.",
            MIN_SECRET_CHARS,
        )
        return None
    api_url = api_base_url(given.api_url, "SEN_TELEGRAM_API_URL")
    return TelegramSettings(token, secret, api_url) if api_url else None


def chat_id(sender_id: str) -> int:
    """The Telegram chat a conversation id names."""
    rest = sender_id[len(PREFIX) :] if sender_id.startswith(PREFIX) else ""
    if not _CHAT_ID.match(rest):
        raise DeliveryError(
            "Telegram can't deliver to this conversation: it is not a Telegram chat."
        )
    return int(rest)


def _error_detail(body: Any) -> str:
    description = body.get("description") if isinstance(body, dict) else None
    return str(description)[:120] if description else ""


def inline_keyboard(buttons: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """One button a row; a payload too long for callback_data can't be a button (Telegram
    would refuse the whole message), so it is left out and logged."""
    rows = []
    for button in buttons:
        if len(button["payload"].encode()) > CALLBACK_DATA_BYTES:
            logger.warning("Telegram: a button's payload is over 64 bytes; it was left out.")
            continue
        rows.append([{"text": button["title"], "callback_data": button["payload"]}])
    return rows


class TelegramOutput(ChannelOutput):
    platform = "Telegram"

    @classmethod
    def name(cls) -> str:
        return "telegram"

    def __init__(self, settings: TelegramSettings, api: PlatformApi, strict: bool) -> None:
        super().__init__(api, strict)
        self.settings = settings

    async def call(self, method: str, body: dict[str, Any]) -> Any:
        answer = await self.api.post(
            method, self.settings.method_url(method), json_body=body, error_detail=_error_detail
        )
        if isinstance(answer, dict) and answer.get("ok") is False:
            raise DeliveryError(f"Telegram refused {method} ({_error_detail(answer)}).")
        return answer

    async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, str]]) -> None:
        chat = chat_id(recipient_id)
        keyboard = inline_keyboard(buttons)
        parts = split_message(text or CHOOSE_TEXT, TEXT_LIMIT, measure=utf16_length)
        for number, part in enumerate(parts, 1):
            body: dict[str, Any] = {"chat_id": chat, "text": part}
            if keyboard and number == len(parts):
                body["reply_markup"] = {"inline_keyboard": keyboard}
            await self.call("sendMessage", body)


def _private_chat(message: object, sender: object) -> int | None:
    """The chat id of a message in a private chat with a person; None for groups, channels and
    bots. ``sender`` is who acted: the message's ``from`` for a message, but the callback
    query's ``from`` for a button press (the message a button sits under is the bot's own, so
    its ``from`` is the bot)."""
    if not isinstance(message, dict):
        raise BadPayload("a message is not an object")
    chat = message.get("chat")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise BadPayload("a message has no chat id")
    if chat.get("type") != "private" or (isinstance(sender, dict) and sender.get("is_bot")):
        return None
    return chat["id"]


def _button_title(message: dict[str, Any], data: str) -> str | None:
    """The title of the pressed button, from the keyboard of the message it was under."""
    markup = message.get("reply_markup")
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            if isinstance(button, dict) and button.get("callback_data") == data:
                return str(button.get("text") or "") or None
    return None


def _command(text: str) -> str:
    word = text.strip().split(maxsplit=1)[0].lower() if text.strip() else ""
    return COMMANDS.get(word, text)


class TelegramInput(WebhookInput):
    platform = "Telegram"
    channel_payloads = frozenset(COMMANDS.values())

    @classmethod
    def name(cls) -> str:
        return "telegram"

    @classmethod
    def settings_from_env(cls, env: Mapping[str, str]) -> TelegramSettings | None:
        return telegram_settings(env)

    def make_output(self, strict: bool) -> TelegramOutput:
        return TelegramOutput(self.settings, self.api, strict)

    def verify(self, request: Request) -> str | None:
        given = request.headers.get(SECRET_HEADER)
        if not given:
            return f"no {SECRET_HEADER} header"
        expected = self.settings.secret_token.encode()
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected):
            return "the secret token does not match"
        return None

    def parse(self, request: Request) -> list[Incoming]:
        update = json_object(request.body)
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise BadPayload("the update has no update_id")
        key = f"update:{update_id}"
        query = update.get("callback_query")
        if query is not None:
            if not isinstance(query, dict) or not query.get("id"):
                raise BadPayload("callback_query is not an object with an id")
            message, data = query.get("message"), query.get("data")
            chat = _private_chat(message, query.get("from")) if message is not None else None
            if chat is None:
                return []
            text = data if isinstance(data, str) and data.strip() else None
            title = _button_title(message, data) if text else None
            return [Incoming(f"{PREFIX}{chat}", text, key, title, str(query["id"]))]
        message = update.get("message")
        if message is None:  # edited messages, channel posts, ...: nothing a parent asked
            return []
        chat = _private_chat(message, message.get("from") if isinstance(message, dict) else None)
        if chat is None:
            logger.info("Telegram: ignored a message that is not from a private chat.")
            return []
        text = message.get("text")
        if not isinstance(text, str):  # a photo or document with a caption: answer the caption
            caption = message.get("caption")
            text = caption if isinstance(caption, str) and caption.strip() else None
        text = _command(text) if isinstance(text, str) else None
        return [Incoming(f"{PREFIX}{chat}", text, key)]

    async def acknowledge(self, incoming: Incoming) -> None:
        """Stops the button's loading indicator in the parent's app."""
        if incoming.callback_id is None:
            return
        try:
            await self.make_output(strict=True).call(
                "answerCallbackQuery", {"callback_query_id": incoming.callback_id}
            )
        except DeliveryError as problem:
            logger.warning("%s", problem)


async def set_webhook(settings: TelegramSettings, url: str, api: PlatformApi) -> Any:
    """Registers the webhook with the secret token Telegram will send with every update."""
    output = TelegramOutput(settings, api, strict=True)
    return await output.call(
        "setWebhook",
        {"url": url, "secret_token": settings.secret_token, "allowed_updates": ALLOWED_UPDATES},
    )
