"""SMS and WhatsApp through Twilio, with every webhook call's ``X-Twilio-Signature`` verified.

Twilio signs each call: base64 of HMAC-SHA1, keyed with the account's auth token, over the URL
it called followed by every POST parameter's name and value, sorted by name. The URL must be the
one Twilio called, which behind a TLS proxy is not the one Rasa sees (``http://127.0.0.1:5005``),
so it comes from ``SEN_TWILIO_WEBHOOK_URL``. Rasa's own Twilio connector checks nothing.

SMS and WhatsApp have no buttons, so buttons become numbered lines ("1. Title") and a reply that
is just a number is sent to Rasa as that button's payload. The numbers always refer to the latest
bot message (read from the tracker), so nothing has to be remembered outside Rasa.

A conversation is ``sms:p.<token>`` or ``whatsapp:p.<token>``, where the token is the parent's
phone number sealed with AES-SIV under ``SEN_CHANNEL_ID_SECRET`` (or one made once in
``$SEN_DATA_DIR/channel-id-secret``): the same number always gives the same conversation, and
only this channel can read the number back to send a reply (an adviser's too). So the number is
not written into every row of the tracker store, the events, the cases and the logs, nor shown
to advisers reviewing transcripts. Changing the secret starts new conversations; replies to old
ones then fail loudly. Conversations from before pseudonymous ids (``sms:+447700900123``) are
still delivered to. ``python -m bot.channels conversation-id +447700900123`` finds a number's
conversations (for a parent's request to see or erase their data).

Replies go through the Messages API, not TwiML, because an adviser's message has no webhook call
to answer.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import aiohttp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import (
    BadPayload,
    ChannelOutput,
    DeliveryError,
    Incoming,
    KindNotConfigured,
    PlatformApi,
    WebhookInput,
    api_base_url,
    numbered_options,
    split_message,
)
from bot.settings import load_settings, stored_secret

logger = logging.getLogger("bot.channels")

SMS_PREFIX = "sms:"
WHATSAPP_PREFIX = "whatsapp:"
SEALED = "p."  # after the prefix: the phone number is sealed, not written
TEXT_LIMIT = 1600  # a message body: Twilio's limit for SMS, and the same for WhatsApp here
SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")  # E.164
_SENDER = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


# --- the signature ---------------------------------------------------------------------------
def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's request signature: base64(HMAC-SHA1(auth token, URL + each name and value,
    sorted by name, then value))."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    signed = url + "".join(
        name + value for name in sorted(values) for value in sorted(values[name])
    )
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, and with the scheme's default port added or removed: Twilio signs
    ``https://host/...`` and ``https://host:443/...`` inconsistently."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or not parts.hostname:
        return [url]
    if port is None:
        other = parts._replace(netloc=f"{parts.netloc}:{default}")
    elif port == default:
        other = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])
    else:
        return [url]
    return [url, urlunsplit(other)]


def signature_matches(
    auth_token: str, url: str, params: list[tuple[str, str]], signature: str
) -> bool:
    given = signature.strip().encode("utf-8", "replace")
    return any(
        hmac.compare_digest(twilio_signature(auth_token, variant, params).encode(), given)
        for variant in _url_variants(url)
    )


# --- conversation ids --------------------------------------------------------------------------
class PhoneIds:
    """Conversation ids that carry a phone number sealed (AES-SIV: deterministic, authenticated).

    The kind (SMS or WhatsApp) is bound in as associated data, so an SMS id can't be relabelled
    as a WhatsApp one. Any secret string works: the 512-bit AES-SIV key is its SHA-512."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("conversation ids need a secret (SEN_CHANNEL_ID_SECRET)")
        self._siv = AESSIV(hashlib.sha512(secret.encode()).digest())

    def conversation(self, phone: str, whatsapp: bool) -> str:
        prefix = WHATSAPP_PREFIX if whatsapp else SMS_PREFIX
        sealed = self._siv.encrypt(phone.encode(), [prefix.encode()])
        return prefix + SEALED + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def phone(self, conversation: str) -> str | None:
        """The number a sealed id carries; None if it is not one of ours, or was altered."""
        for prefix in (WHATSAPP_PREFIX, SMS_PREFIX):
            if conversation.startswith(prefix + SEALED):
                token = conversation[len(prefix) + len(SEALED) :]
                try:
                    sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
                    return self._siv.decrypt(sealed, [prefix.encode()]).decode()
                except (InvalidTag, ValueError, binascii.Error):
                    return None
        return None


@functools.lru_cache(maxsize=4)
def phone_ids(secret: str) -> PhoneIds:
    return PhoneIds(secret)


def id_secret(env: Mapping[str, str]) -> str:
    settings = load_settings(env)
    return settings.channels.id_secret or stored_secret(settings.data_dir, "channel-id-secret")


# --- settings --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    webhook_url: str
    sms_from: str | None  # +447700900000
    whatsapp_from: str | None  # whatsapp:+447700900000
    api_url: str
    id_secret: str = field(repr=False)  # seals phone numbers into conversation ids

    @property
    def ids(self) -> PhoneIds:
        return phone_ids(self.id_secret)

    @property
    def messages_url(self) -> str:
        return f"{self.api_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"


def twilio_settings(env: Mapping[str, str]) -> TwilioSettings | None:
    """The settings, or None (and why, logged once) when the channel is off."""
    given = load_settings(env).channels.twilio
    sid, token, webhook_url = given.account_sid, given.auth_token, given.webhook_url
    sms_from = given.sms_from
    whatsapp_from = given.whatsapp_from.removeprefix(WHATSAPP_PREFIX)
    if not any((sid, token, webhook_url, sms_from, whatsapp_from)):
        logger.info(
            "Twilio channel (SMS, WhatsApp) is off: set SEN_TWILIO_ACCOUNT_SID, "
            "SEN_TWILIO_AUTH_TOKEN, SEN_TWILIO_WEBHOOK_URL and SEN_TWILIO_SMS_FROM and/or "
            "SEN_TWILIO_WHATSAPP_FROM to switch it on."
        )
        return None
    required = {
        "SEN_TWILIO_ACCOUNT_SID": sid,
        "SEN_TWILIO_AUTH_TOKEN": token,
        "SEN_TWILIO_WEBHOOK_URL": webhook_url,
        "SEN_TWILIO_SMS_FROM or SEN_TWILIO_WHATSAPP_FROM": sms_from or whatsapp_from,
    }
    missing = [name for name, value in required.items() if not value]
    if missing:
        logger.warning("Twilio channel is off: %s not set.", ", ".join(missing))
        return None
    problems = []
    if not _ACCOUNT_SID.match(sid):
        problems.append("SEN_TWILIO_ACCOUNT_SID is not an account SID (AC + 32 hex digits)")
    public = urlsplit(webhook_url)
    if public.scheme not in ("http", "https") or not public.netloc:
        problems.append("SEN_TWILIO_WEBHOOK_URL is not an http(s) URL")
    numbers = {"SEN_TWILIO_SMS_FROM": sms_from, "SEN_TWILIO_WHATSAPP_FROM": whatsapp_from}
    for name, number in numbers.items():
        if number and not _PHONE.match(number):
            problems.append(f"{name} is not a phone number in E.164 form (+447700900000)")
    if problems:
        logger.warning("Twilio channel is off: %s.", "; ".join(problems))
        return None
    api_url = api_base_url(given.api_url, "SEN_TWILIO_API_URL")
    if api_url is None:
        return None
    return TwilioSettings(
        sid,
        token,
        webhook_url,
        sms_from or None,
        f"{WHATSAPP_PREFIX}{whatsapp_from}" if whatsapp_from else None,
        api_url,
        id_secret(env),
    )


# --- sending ---------------------------------------------------------------------------------
def _error_detail(body: Any) -> str:
    # Twilio's error code only: its message can quote the phone number.
    code = body.get("code") if isinstance(body, dict) else None
    return f"Twilio error {code}" if code else ""


class TwilioOutput(ChannelOutput):
    platform = "Twilio"

    @classmethod
    def name(cls) -> str:
        return "twilio"

    def __init__(self, settings: TwilioSettings, api: PlatformApi, strict: bool) -> None:
        super().__init__(api, strict)
        self.settings = settings

    def route(self, recipient_id: str) -> tuple[str, str]:
        """(To, From) for a conversation."""
        if recipient_id.startswith((SMS_PREFIX + SEALED, WHATSAPP_PREFIX + SEALED)):
            phone = self.settings.ids.phone(recipient_id)
            if phone is None:
                raise DeliveryError(
                    "Twilio can't deliver to this conversation: its phone number can't be read "
                    "(was SEN_CHANNEL_ID_SECRET changed?)."
                )
            whatsapp = recipient_id.startswith(WHATSAPP_PREFIX)
            recipient_id = f"{WHATSAPP_PREFIX}{phone}" if whatsapp else f"{SMS_PREFIX}{phone}"
        if recipient_id.startswith(WHATSAPP_PREFIX):
            to, sender = recipient_id, self.settings.whatsapp_from
        elif recipient_id.startswith(SMS_PREFIX):
            to, sender = recipient_id[len(SMS_PREFIX) :], self.settings.sms_from
        else:
            raise DeliveryError(
                "Twilio can't deliver to this conversation: it is not SMS or WhatsApp."
            )
        if not _SENDER.match(to):
            raise DeliveryError("Twilio can't deliver to this conversation: no phone number.")
        if sender is None:
            kind = "WhatsApp" if to.startswith(WHATSAPP_PREFIX) else "SMS"
            raise DeliveryError(f"Twilio can't deliver: {kind} has no sending number configured.")
        return to, sender

    async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, str]]) -> None:
        to, sender = self.route(recipient_id)
        auth = aiohttp.BasicAuth(self.settings.account_sid, self.settings.auth_token)
        for part in split_message(text, TEXT_LIMIT, numbered_options(buttons)):
            await self.api.post(
                "Messages",
                self.settings.messages_url,
                form={"To": to, "From": sender, "Body": part},
                auth=auth,
                error_detail=_error_detail,
            )


# --- receiving -------------------------------------------------------------------------------
class TwilioInput(WebhookInput):
    platform = "Twilio"

    @classmethod
    def name(cls) -> str:
        return "twilio"

    @classmethod
    def settings_from_env(cls, env: Mapping[str, str]) -> TwilioSettings | None:
        return twilio_settings(env)

    def make_output(self, strict: bool) -> TwilioOutput:
        return TwilioOutput(self.settings, self.api, strict)

    def shows_numbers(self, buttons: list[dict[str, str]]) -> bool:
        return bool(buttons)

    def signed_url(self, request: Request) -> str:
        """The URL Twilio called: the public one, with the query string this call carried."""
        url = self.settings.webhook_url
        return f"{url}?{request.query_string}" if request.query_string and "?" not in url else url

    @staticmethod
    def form(request: Request) -> list[tuple[str, str]]:
        try:
            text = (request.body or b"").decode("utf-8")
            return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
        except ValueError:  # UnicodeDecodeError too
            raise BadPayload("the body is not form-encoded") from None

    def verify(self, request: Request) -> str | None:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return f"no {SIGNATURE_HEADER} header"
        try:
            params = self.form(request)
        except BadPayload:
            return "the body is not form-encoded, so its signature can't be checked"
        url = self.signed_url(request)
        if not signature_matches(self.settings.auth_token, url, params, signature):
            return "the signature does not match (is SEN_TWILIO_WEBHOOK_URL the URL Twilio calls?)"
        return None

    def parse(self, request: Request) -> list[Incoming]:
        form = dict(self.form(request))
        sender = form.get("From", "")
        if not _SENDER.match(sender):
            raise BadPayload("From is not a phone number")
        whatsapp = sender.startswith(WHATSAPP_PREFIX)
        if whatsapp and self.settings.whatsapp_from is None:
            raise KindNotConfigured(
                "a WhatsApp message came, but SEN_TWILIO_WHATSAPP_FROM is not set."
            )
        if not whatsapp and self.settings.sms_from is None:
            raise KindNotConfigured("an SMS came, but SEN_TWILIO_SMS_FROM is not set.")
        conversation = self.settings.ids.conversation(
            sender.removeprefix(WHATSAPP_PREFIX), whatsapp
        )
        body = form.get("Body", "")
        media = form.get("NumMedia", "0")
        if not body.strip() and media.isdigit() and int(media) > 0:
            text = None  # a photo or voice note with no words
        else:
            # As Rasa's connector does: some carriers turn @ into ¡ in an SMS.
            text = body if whatsapp else body.replace("\u00a1", "@")
        return [Incoming(conversation, text, form.get("MessageSid") or None)]

    def accepted(self) -> HTTPResponse:
        # Replies go through the API, so Twilio is told there is nothing to send now.
        return response.text(EMPTY_TWIML, content_type="text/xml")
