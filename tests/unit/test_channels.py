"""The messaging channels without Rasa: the platforms' signature algorithms, splitting and
numbering, the settings, and each channel's webhook served for real (a Sanic app on a free
loopback port, with a stand-in agent) sending to a recorder that plays the platforms' APIs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from rasa.core.channels.channel import UserMessage, register
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Sanic
from twilio.request_validator import RequestValidator

from bot.channels import __main__ as channels_cli
from bot.channels.common import (
    FAILED_REPLY,
    MAX_BODY_BYTES,
    NOT_CONFIGURED,
    UNSUPPORTED_REPLY,
    DeliveryError,
    PlatformApi,
    RecentIds,
    chosen_option,
    last_bot_buttons,
    numbered_options,
    option_number,
    split_message,
    utf16_length,
)
from bot.channels.limits import RATE_LIMITED_REPLY
from bot.channels.messenger import (
    MessengerInput,
    MessengerSettings,
    hub_signature,
    messenger_settings,
    options_listed,
    short_title,
)
from bot.channels.messenger import signature_matches as hub_signature_matches
from bot.channels.telegram import (
    SECRET_HEADER,
    TelegramInput,
    TelegramSettings,
    chat_id,
    telegram_settings,
)
from bot.channels.twilio import (
    EMPTY_TWIML,
    PhoneIds,
    TwilioInput,
    TwilioSettings,
    twilio_settings,
    twilio_signature,
)
from bot.channels.twilio import signature_matches as twilio_signature_matches
from tests.helpers.platform_recorder import PlatformRecorder
from tests.helpers.serving import serving

SECRET = "telegram-secret-0123456789"
TG_TOKEN = "123456:AAE-test_token"
TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-token"
PUBLIC_URL = "https://assistant.example.org/webhooks/twilio/webhook"
APP_SECRET = "messenger-app-secret"
VERIFY_TOKEN = "messenger-verify-token"
SMS_FROM = "+447700900000"
WHATSAPP_FROM = "whatsapp:+447700900001"
ID_SECRET = "channel-id-secret-for-tests"
PARENT_PHONE = "+447700900123"
SMS_PARENT = PhoneIds(ID_SECRET).conversation(PARENT_PHONE, whatsapp=False)
BUTTONS = [
    {"title": "What a SENCO is and does", "payload": "/kb_senco"},
    {"title": "Meetings with the school", "payload": "/kb_meetings"},
    {"title": "Talk to an adviser", "payload": "/request_human"},
]


# --- signatures ------------------------------------------------------------------------------
def test_twilio_signature_matches_twilios_documented_example():
    # Twilio's security docs: auth token 12345, this URL and these parameters.
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio_signature("12345", url, list(reversed(params))) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio_signature_matches("12345", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_twilio_signature_agrees_with_twilios_own_validator():
    """Repeated names, blank values, accents and emoji, and the port Twilio may or may not sign
    (checked against the twilio package's RequestValidator, used here only as a reference)."""
    params = [
        ("Body", "Café? 2 😀 & more=yes"),
        ("To", SMS_FROM),
        ("MediaUrl0", ""),
        ("From", "+447700900123"),
        ("Tag", "b"),
        ("Tag", "a"),
    ]
    reference = RequestValidator(TWILIO_TOKEN)

    class Params(dict):  # what the validator reads repeated names from (Flask's MultiDict)
        def getall(self, name: str) -> list[str]:
            return [value for key, value in params if key == name]

    ours = twilio_signature(TWILIO_TOKEN, PUBLIC_URL, params)
    assert ours == reference.compute_signature(PUBLIC_URL, Params({k: "" for k, _ in params}))
    with_port = PUBLIC_URL.replace(".org/", ".org:443/")
    signed_with_port = twilio_signature(TWILIO_TOKEN, with_port, params)
    assert twilio_signature_matches(TWILIO_TOKEN, PUBLIC_URL, params, signed_with_port)
    assert twilio_signature_matches(TWILIO_TOKEN, with_port, params, ours)


def test_twilio_signature_refuses_any_change():
    params = [("From", "+447700900123"), ("Body", "hello")]
    good = twilio_signature(TWILIO_TOKEN, PUBLIC_URL, params)
    assert twilio_signature_matches(TWILIO_TOKEN, PUBLIC_URL, params, good)
    assert not twilio_signature_matches(TWILIO_TOKEN, PUBLIC_URL, [params[0], ("Body", "hi")], good)
    assert not twilio_signature_matches("other-token", PUBLIC_URL, params, good)
    internal = "http://127.0.0.1:5005/webhooks/twilio/webhook"
    assert not twilio_signature_matches(TWILIO_TOKEN, internal, params, good)
    assert not twilio_signature_matches(TWILIO_TOKEN, PUBLIC_URL, params, good[:-2] + "x=")
    assert not twilio_signature_matches(TWILIO_TOKEN, PUBLIC_URL, params, "é" + good)


def test_hub_signature_is_sha256_of_the_body_in_metas_format():
    # RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
    body = b"what do ya want for nothing?"
    expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert hub_signature("Jefe", body) == expected
    assert hub_signature_matches("Jefe", body, expected)
    assert hub_signature_matches("Jefe", body, expected.upper().replace("SHA256=", "sha256="))
    assert not hub_signature_matches("Jefe", body + b" ", expected)
    assert not hub_signature_matches("jefe", body, expected)
    sha1 = "sha1=" + hashlib.new("sha1", body).hexdigest()
    assert not hub_signature_matches("Jefe", body, sha1)
    assert not hub_signature_matches("Jefe", body, expected.removeprefix("sha256="))


# --- splitting -------------------------------------------------------------------------------
SENTENCES = [
    "The SENCO is the school's Special Educational Needs Co-ordinator.",
    "Every school must have a qualified SENCO!",
    "Do they organise the help for individual pupils?",
    "They work with teachers to assess your child's needs…",
    "You can arrange a meeting (ask the office).",
]


def test_a_short_message_is_one_part():
    assert split_message("Hello. Two.", 100) == ["Hello. Two."]
    assert split_message("Hello.", 100, tail="Reply with a number:\n1. A") == [
        "Hello.\n\nReply with a number:\n1. A"
    ]
    assert split_message("   ", 100) == []


def test_long_messages_split_at_sentence_boundaries_within_the_limit():
    text = " ".join(SENTENCES * 6)
    for limit in (70, 100, 160, 400):  # each sentence fits in 70
        parts = split_message(text, limit)
        assert len(parts) > 1
        assert all(len(part) <= limit for part in parts)
        assert " ".join(parts).split() == text.split(), "nothing lost, nothing cut mid-word"
        ends = tuple(s[-1] for s in SENTENCES)
        assert all(part.endswith(ends) for part in parts), parts


def test_a_sentence_longer_than_the_limit_splits_between_words_never_inside_one():
    sentence = " ".join(["supercalifragilistic", "word"] * 40) + "."
    parts = split_message(sentence, 50)
    assert all(len(part) <= 50 for part in parts)
    words = set(sentence.split())
    for part in parts:
        assert set(part.split()) <= words, part
    assert " ".join(parts).split() == sentence.split()


def test_only_a_single_word_longer_than_a_message_is_cut():
    link = "https://example.org/" + "a" * 250
    parts = split_message(f"See {link} now.", 100)
    assert all(len(part) <= 100 for part in parts)
    assert "".join(parts).replace(" ", "") == f"See{link}now."


def test_paragraphs_are_boundaries_too_and_kept_inside_a_part():
    text = "First line without a stop\nsecond line\n\nA new paragraph here."
    assert split_message(text, 200) == [text]
    parts = split_message(text, 40)
    assert parts == ["First line without a stop\nsecond line", "A new paragraph here."]


def test_numbered_options_always_end_the_last_part():
    text = " ".join(SENTENCES * 4)
    tail = numbered_options(BUTTONS)
    parts = split_message(text, 200, tail)
    assert all(len(part) <= 200 for part in parts)
    assert parts[-1].endswith(tail)
    assert sum(part.count("1. What a SENCO") for part in parts) == 1
    assert " ".join(parts).split() == (text + " " + tail).split()


def test_telegram_counts_utf16_units():
    assert utf16_length("abc") == 3 and utf16_length("😀") == 2
    text = "😀" * 30 + ". " + "😀" * 29 + "."  # 62 code points, 121 UTF-16 units
    parts = split_message(text, 100, measure=utf16_length)
    assert len(parts) == 2 and all(utf16_length(p) <= 100 for p in parts)
    assert len(split_message(text, 100)) == 1  # by code points it would fit


# --- numbered options ------------------------------------------------------------------------
def test_buttons_become_numbered_lines():
    assert numbered_options(BUTTONS) == (
        "Reply with a number:\n1. What a SENCO is and does\n2. Meetings with the school\n"
        "3. Talk to an adviser"
    )
    assert numbered_options([]) == ""


@pytest.mark.parametrize(
    ("reply", "payload"),
    [
        ("2", "/kb_meetings"),
        (" 2 ", "/kb_meetings"),
        ("2.", "/kb_meetings"),
        ("3)", "/request_human"),
        ("#1", "/kb_senco"),
        ("0", None),
        ("4", None),
        ("12", None),
        ("2 please", None),
        ("", None),
        ("two", None),
    ],
)
def test_a_number_picks_that_option(reply, payload):
    choice = chosen_option(reply, BUTTONS)
    assert (choice["payload"] if choice else None) == payload


def test_numbers_refer_to_the_latest_bot_message_only():
    events = [
        UserUttered("what is a senco"),
        BotUttered("The SENCO...", data={"buttons": BUTTONS}),
    ]
    assert last_bot_buttons(events) == BUTTONS
    events.append(UserUttered("hello?"))  # typed while the bot stayed quiet: options still open
    assert last_bot_buttons(events) == BUTTONS
    events.append(BotUttered("Sam, an adviser, has joined the chat."))
    assert last_bot_buttons(events) == []
    assert option_number("1") == 1 and option_number("1 2") is None


def test_messenger_titles_fit_a_quick_reply():
    for button in BUTTONS + [{"title": "If you think your child may have SEN"}]:
        title = short_title(button["title"])
        assert len(title) <= 20
        if len(button["title"]) > 20:
            assert title.endswith("…") and button["title"].startswith(title[:-1])
            assert button["title"][len(title) - 1] == " ", "cut at a word"
    assert short_title("Talk to an adviser") == "Talk to an adviser"
    assert options_listed(BUTTONS) and not options_listed(BUTTONS[2:])


def test_recent_ids_forget_the_oldest():
    recent = RecentIds(size=2)
    assert recent.first_time("a") and recent.first_time("b")
    assert not recent.first_time("a"), "a delivery seen before"
    assert recent.first_time("c"), "new; b, the oldest, is forgotten"
    assert recent.first_time("b"), "b was forgotten, so it counts as new (a goes)"
    assert not recent.first_time("c") and recent.first_time("a")
    assert recent.first_time(None) and recent.first_time(None), "no id: never a repeat"


# --- settings --------------------------------------------------------------------------------
def test_a_channel_with_no_settings_is_off_and_says_so_once(caplog):
    caplog.set_level(logging.INFO, logger="bot.channels")
    for channel in (TelegramInput, TwilioInput, MessengerInput):
        assert channel.settings_from_env({}) is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert all(" is off: set SEN_" in m for m in messages), messages


def test_a_partly_configured_channel_stays_off_and_names_what_is_missing(caplog):
    caplog.set_level(logging.INFO, logger="bot.channels")
    assert telegram_settings({"SEN_TELEGRAM_TOKEN": TG_TOKEN}) is None
    assert (
        telegram_settings({"SEN_TELEGRAM_TOKEN": TG_TOKEN, "SEN_TELEGRAM_SECRET_TOKEN": "short"})
        is None
    )
    bad = {"SEN_TELEGRAM_TOKEN": TG_TOKEN, "SEN_TELEGRAM_SECRET_TOKEN": "has spaces in it, 20+"}
    assert telegram_settings(bad) is None
    twilio = {
        "SEN_TWILIO_ACCOUNT_SID": TWILIO_SID,
        "SEN_TWILIO_AUTH_TOKEN": "x",
        "SEN_TWILIO_SMS_FROM": SMS_FROM,
    }
    assert twilio_settings(twilio) is None
    assert messenger_settings({"SEN_MESSENGER_APP_SECRET": APP_SECRET}) is None
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "SEN_TELEGRAM_SECRET_TOKEN is not set" in text
    assert "SEN_TELEGRAM_SECRET_TOKEN must be 16-256 characters" in text
    assert "SEN_TWILIO_WEBHOOK_URL not set" in text
    assert "SEN_MESSENGER_PAGE_TOKEN, SEN_MESSENGER_VERIFY_TOKEN not set" in text
    assert APP_SECRET not in text and TG_TOKEN not in text


def test_full_settings_switch_each_channel_on_with_the_platforms_default_urls():
    telegram = telegram_settings(
        {"SEN_TELEGRAM_TOKEN": TG_TOKEN, "SEN_TELEGRAM_SECRET_TOKEN": SECRET}
    )
    assert telegram.api_url == "https://api.telegram.org"
    assert (
        telegram.method_url("sendMessage") == f"https://api.telegram.org/bot{TG_TOKEN}/sendMessage"
    )
    twilio = twilio_settings(
        {
            "SEN_TWILIO_ACCOUNT_SID": TWILIO_SID,
            "SEN_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "SEN_TWILIO_WEBHOOK_URL": PUBLIC_URL,
            "SEN_TWILIO_WHATSAPP_FROM": "+447700900001",
            "SEN_CHANNEL_ID_SECRET": ID_SECRET,
        }
    )
    assert twilio.whatsapp_from == WHATSAPP_FROM and twilio.sms_from is None
    assert twilio.messages_url == (
        f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    )
    messenger = messenger_settings(
        {
            "SEN_MESSENGER_PAGE_TOKEN": "p",
            "SEN_MESSENGER_APP_SECRET": APP_SECRET,
            "SEN_MESSENGER_VERIFY_TOKEN": VERIFY_TOKEN,
            "SEN_MESSENGER_API_URL": "ftp://graph.example",
        }
    )
    assert messenger is None, "an API URL that is not http(s) keeps the channel off"


# --- the webhooks, served --------------------------------------------------------------------
@dataclass
class FakeAgent:
    """Stands in for Rasa's agent: records each message and answers with ``reply`` through the
    message's output channel, keeping a tracker of events as Rasa would."""

    reply: dict[str, Any] = field(
        default_factory=lambda: {"text": "An answer.", "buttons": BUTTONS}
    )
    messages: list[UserMessage] = field(default_factory=list)
    trackers: dict[str, list] = field(default_factory=dict)
    fail: bool = False

    @property
    def tracker_store(self) -> FakeAgent:
        return self

    async def retrieve(self, sender_id: str) -> Any:
        events = self.trackers.get(sender_id)
        return SimpleNamespace(events=events) if events is not None else None

    async def handle_message(self, message: UserMessage) -> None:
        if self.fail:
            raise RuntimeError("the model could not be loaded")
        self.messages.append(message)
        events = self.trackers.setdefault(message.sender_id, [])
        events.append(UserUttered(message.text, input_channel=message.input_channel))
        await message.output_channel.send_response(message.sender_id, dict(self.reply))
        events.append(BotUttered(self.reply["text"], data={"buttons": self.reply.get("buttons")}))


@pytest.fixture
def platform() -> Iterator[PlatformRecorder]:
    with PlatformRecorder() as recorder:
        yield recorder


def configured_channels(api_url: str) -> list:
    return [
        TelegramInput(TelegramSettings(TG_TOKEN, SECRET, api_url)),
        TwilioInput(
            TwilioSettings(TWILIO_SID, TWILIO_TOKEN, PUBLIC_URL, SMS_FROM, None, api_url, ID_SECRET)
        ),
        MessengerInput(
            MessengerSettings("page-token", APP_SECRET, VERIFY_TOKEN, api_url + "/v19.0")
        ),
    ]


_apps = iter(range(10**6))


def served(channels: list, agent: FakeAgent):
    app = Sanic(f"sen-channels-test-{next(_apps)}")
    app.ctx.agent = agent
    register(channels, app, route="/webhooks/")
    return serving(app)


@pytest.fixture
def webhooks(platform) -> Iterator[SimpleNamespace]:
    agent = FakeAgent()
    channels = configured_channels(platform.url)
    with served(channels, agent) as url:
        yield SimpleNamespace(url=url, agent=agent, channels=channels)


# The assistant's own Telegram user, as Telegram gives it in a message the bot sent.
BOT_USER = {
    "id": 7000001,
    "is_bot": True,
    "first_name": "SEN Support",
    "username": "sen_support_bot",
}


def telegram_update(
    update_id: int, text: str | None = "what is a senco", chat: int = 42, chat_type: str = "private"
) -> dict:
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": chat, "type": chat_type, "first_name": "Alex"},
        "from": {"id": chat, "is_bot": False, "first_name": "Alex"},
    }
    if text is None:
        message["photo"] = [{"file_id": "abc", "file_unique_id": "u", "width": 90, "height": 90}]
    else:
        message["text"] = text
    return {"update_id": update_id, "message": message}


def post_telegram(url: str, update: dict | bytes, secret: str | None = SECRET) -> requests.Response:
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return requests.post(f"{url}/webhooks/telegram/webhook", data=body, headers=headers, timeout=10)


def post_twilio(
    url: str,
    params: list[tuple[str, str]],
    signed_for: str = PUBLIC_URL,
    token: str = TWILIO_TOKEN,
    sign: bool = True,
) -> requests.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        headers["X-Twilio-Signature"] = twilio_signature(token, signed_for, params)
    return requests.post(
        f"{url}/webhooks/twilio/webhook", data=urlencode(params), headers=headers, timeout=10
    )


def sms(body: str, sender: str = "+447700900123", sid: str = "SM1") -> list[tuple[str, str]]:
    return [
        ("MessageSid", sid),
        ("AccountSid", TWILIO_SID),
        ("From", sender),
        ("To", SMS_FROM),
        ("Body", body),
        ("NumMedia", "0"),
    ]


def messenger_event(message: dict, psid: str = "24680") -> dict:
    return {
        "object": "page",
        "entry": [
            {
                "id": "1357",
                "time": 1,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": "1357"},
                        "timestamp": 1,
                        "message": message,
                    }
                ],
            }
        ],
    }


def post_messenger(
    url: str,
    payload: dict | bytes,
    secret: str | None = APP_SECRET,
    header: str = "X-Hub-Signature-256",
) -> requests.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[header] = hub_signature(secret, body)
    return requests.post(
        f"{url}/webhooks/messenger/webhook", data=body, headers=headers, timeout=10
    )


def test_unconfigured_channels_answer_404_to_every_call(platform):
    agent = FakeAgent()
    channels = [TelegramInput(None), TwilioInput(None), MessengerInput(None)]
    assert all(channel.get_output_channel() is None for channel in channels)
    with served(channels, agent) as url:
        replies = [
            post_telegram(url, telegram_update(1)),
            post_twilio(url, sms("hello")),
            post_messenger(url, messenger_event({"mid": "m1", "text": "hi"})),
            requests.get(
                f"{url}/webhooks/messenger/webhook?hub.mode=subscribe&hub.challenge=1"
                f"&hub.verify_token={VERIFY_TOKEN}",
                timeout=10,
            ),
            requests.get(f"{url}/webhooks/telegram/", timeout=10),
        ]
    assert [(r.status_code, r.text) for r in replies] == [(404, NOT_CONFIGURED)] * 5
    assert agent.messages == [] and platform.requests == []


def test_unverified_calls_are_refused_logged_without_content_and_reach_nothing(
    webhooks, platform, caplog
):
    caplog.set_level(logging.INFO, logger="bot.channels")
    secret_words = "my son was excluded today"
    update = telegram_update(7, secret_words)
    refused = [
        post_telegram(webhooks.url, update, secret=None),
        post_telegram(webhooks.url, update, secret="not-the-secret-token-000"),
        post_telegram(webhooks.url, update, secret=SECRET + "x"),
        post_twilio(webhooks.url, sms(secret_words), sign=False),
        post_twilio(webhooks.url, sms(secret_words), token="someone-elses-token"),
        # Signed for the URL Rasa sees, not the public one Twilio calls: not from Twilio.
        post_twilio(
            webhooks.url, sms(secret_words), signed_for=f"{webhooks.url}/webhooks/twilio/webhook"
        ),
        post_messenger(
            webhooks.url, messenger_event({"mid": "m9", "text": secret_words}), secret=None
        ),
        post_messenger(
            webhooks.url, messenger_event({"mid": "m9", "text": secret_words}), secret="guess"
        ),
        # Meta's old SHA-1 header alone is not accepted.
        post_messenger(
            webhooks.url,
            messenger_event({"mid": "m9", "text": secret_words}),
            header="X-Hub-Signature",
        ),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert all(r.text == "forbidden" for r in refused)
    assert webhooks.agent.messages == [] and webhooks.agent.trackers == {}
    assert platform.requests == [], "nothing was sent to anyone"
    logged = [r.getMessage() for r in caplog.records]
    assert len([m for m in logged if "refused an unverified webhook call" in m]) == len(refused)
    assert any("Telegram: refused" in m and "secret token does not match" in m for m in logged)
    assert any("Twilio: refused" in m and "no X-Twilio-Signature header" in m for m in logged)
    assert any("Messenger: refused" in m and "no X-Hub-Signature-256 header" in m for m in logged)
    everything = "\n".join(logged)
    assert secret_words not in everything and SECRET not in everything
    assert "+447700900123" not in everything


def test_oversized_and_malformed_calls_get_413_and_400_without_a_trace(webhooks, platform):
    big = json.dumps({"update_id": 1, "padding": "x" * MAX_BODY_BYTES}).encode()
    assert post_telegram(webhooks.url, big).status_code == 413
    assert post_messenger(webhooks.url, b"x" * (MAX_BODY_BYTES + 1)).status_code == 413
    malformed = [
        post_telegram(webhooks.url, b"{not json"),
        post_telegram(webhooks.url, b"[1, 2]"),
        post_telegram(webhooks.url, {"message": {"text": "no update id"}}),
        post_telegram(webhooks.url, {"update_id": 3, "message": {"text": "no chat"}}),
        post_twilio(webhooks.url, [("From", "not a number"), ("Body", "hi")]),
        post_messenger(webhooks.url, b"\xff\xfe not json"),
        post_messenger(webhooks.url, {"object": "page", "entry": "nope"}),
        post_messenger(webhooks.url, messenger_event({"mid": "m1", "text": "hi"}, psid="abc")),
    ]
    for reply in malformed:
        assert reply.status_code == 400, reply.text
        assert reply.text.startswith("malformed payload: ") and "Traceback" not in reply.text
    # A Twilio body that can't be read as a form can't be verified either: refused.
    headers = {"X-Twilio-Signature": "x", "Content-Type": "application/x-www-form-urlencoded"}
    reply = requests.post(
        f"{webhooks.url}/webhooks/twilio/webhook", data=b"\xff=\xfe", headers=headers, timeout=10
    )
    assert reply.status_code == 403
    assert webhooks.agent.messages == [] and platform.requests == []


def test_telegram_message_is_answered_with_an_inline_keyboard(webhooks, platform):
    reply = post_telegram(webhooks.url, telegram_update(10, "what is a senco"))
    assert reply.status_code == 200
    [message] = webhooks.agent.messages
    assert (message.sender_id, message.text, message.input_channel) == (
        "telegram:42",
        "what is a senco",
        "telegram",
    )
    [sent] = platform.requests
    assert sent.route == f"/bot{TG_TOKEN}/sendMessage"
    assert sent.headers["Content-Type"].startswith("application/json")
    assert sent.json == {
        "chat_id": 42,
        "text": "An answer.",
        "reply_markup": {
            "inline_keyboard": [
                [{"text": "What a SENCO is and does", "callback_data": "/kb_senco"}],
                [{"text": "Meetings with the school", "callback_data": "/kb_meetings"}],
                [{"text": "Talk to an adviser", "callback_data": "/request_human"}],
            ]
        },
    }


def test_a_telegram_button_press_is_acknowledged_and_sends_its_payload(webhooks, platform):
    keyboard = {
        "inline_keyboard": [[{"text": "Meetings with the school", "callback_data": "/kb_meetings"}]]
    }
    update = {
        "update_id": 11,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "chat_instance": "-1",
            "data": "/kb_meetings",
            "from": {"id": 42, "is_bot": False, "first_name": "Alex", "language_code": "en"},
            # The message the button sits under is the bot's own: its "from" is the bot.
            "message": {
                "message_id": 5,
                "from": BOT_USER,
                "date": 1,
                "chat": {"id": 42, "first_name": "Alex", "type": "private"},
                "text": "An answer.",
                "reply_markup": keyboard,
            },
        },
    }
    assert post_telegram(webhooks.url, update).status_code == 200
    [message] = webhooks.agent.messages
    assert message.text == "/kb_meetings"
    assert message.metadata == {"display": "Meetings with the school"}
    first, second = platform.requests
    assert first.route.endswith("/answerCallbackQuery")
    assert first.json == {"callback_query_id": "4382bfdwdsb323b2d9"}
    assert second.route.endswith("/sendMessage")


def test_telegram_groups_photos_commands_and_retries(webhooks, platform):
    assert post_telegram(
        webhooks.url, telegram_update(20, "hi all", chat=-100, chat_type="group")
    ).ok
    assert webhooks.agent.messages == [] and platform.requests == []
    assert post_telegram(webhooks.url, telegram_update(21, None)).ok  # a photo
    assert webhooks.agent.messages == []
    assert [r.json["text"] for r in platform.requests] == [UNSUPPORTED_REPLY]
    assert post_telegram(webhooks.url, telegram_update(22, "/start")).ok
    assert post_telegram(webhooks.url, telegram_update(22, "/start")).ok  # delivered again
    assert [m.text for m in webhooks.agent.messages] == ["/greet"]
    assert post_telegram(webhooks.url, {"update_id": 23, "edited_message": {}}).ok


def test_a_telegram_photo_with_a_caption_is_answered_from_the_caption(webhooks, platform):
    update = telegram_update(30, None)  # a photo, as Telegram sends one (Bot API Message)
    update["message"]["caption"] = (
        "this is the letter from school, what does it mean by sen support"
    )
    assert post_telegram(webhooks.url, update).ok
    assert [m.text for m in webhooks.agent.messages] == [update["message"]["caption"]]
    assert [r.json["text"] for r in platform.requests] == ["An answer."]


def test_sms_buttons_become_numbers_and_a_number_sends_that_buttons_payload(webhooks, platform):
    reply = post_twilio(webhooks.url, sms("what is a senco", sid="SM10"))
    assert reply.status_code == 200 and reply.text == EMPTY_TWIML
    assert reply.headers["Content-Type"].startswith("text/xml")
    [sent] = platform.requests
    assert sent.route == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    expected_auth = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {expected_auth}"
    assert sent.form == {
        "To": ["+447700900123"],
        "From": [SMS_FROM],
        "Body": [
            "An answer.\n\nReply with a number:\n1. What a SENCO is and does\n"
            "2. Meetings with the school\n3. Talk to an adviser"
        ],
    }
    post_twilio(webhooks.url, sms(" 2. ", sid="SM11"))
    assert webhooks.agent.messages[-1].text == "/kb_meetings"
    assert webhooks.agent.messages[-1].metadata == {
        "option": 2,
        "display": "Meetings with the school",
    }
    assert webhooks.agent.messages[-1].sender_id == SMS_PARENT
    post_twilio(webhooks.url, sms("9", sid="SM12"))  # no such option: the words go as typed
    assert webhooks.agent.messages[-1].text == "9"
    webhooks.agent.reply = {"text": "When is a good time?"}
    post_twilio(webhooks.url, sms("what now", sid="SM13"))
    post_twilio(webhooks.url, sms("2", sid="SM14"))  # the latest message had no options
    assert webhooks.agent.messages[-1].text == "2"


def test_whatsapp_is_refused_while_only_sms_is_set_up(webhooks, platform):
    params = sms("hello", sender="whatsapp:+447700900123", sid="SM20")
    reply = post_twilio(webhooks.url, params)
    assert (reply.status_code, reply.text) == (404, NOT_CONFIGURED)
    assert webhooks.agent.messages == [] and platform.requests == []


def test_a_twilio_media_message_without_words_gets_a_polite_note(webhooks, platform):
    params = [
        ("MessageSid", "MM1"),
        ("From", "+447700900123"),
        ("To", SMS_FROM),
        ("Body", ""),
        ("NumMedia", "1"),
        ("MediaUrl0", "https://api.twilio.com/media/1"),
    ]
    assert post_twilio(webhooks.url, params).ok
    assert webhooks.agent.messages == []
    assert [r.text for r in platform.requests] == [UNSUPPORTED_REPLY]


def test_messenger_handshake_answers_only_our_verify_token(webhooks):
    base = f"{webhooks.url}/webhooks/messenger/webhook"
    good = requests.get(
        base,
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": VERIFY_TOKEN,
        },
        timeout=10,
    )
    assert (good.status_code, good.text) == (200, "1158201444")
    wrong = requests.get(
        base,
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": "guess",
        },
        timeout=10,
    )
    assert wrong.status_code == 403 and "1158201444" not in wrong.text
    odd = requests.get(
        base,
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "<script>",
            "hub.verify_token": VERIFY_TOKEN,
        },
        timeout=10,
    )
    assert odd.status_code == 400 and "<script>" not in odd.text


def test_messenger_answers_with_quick_replies_and_the_full_titles_numbered(webhooks, platform):
    assert post_messenger(webhooks.url, messenger_event({"mid": "m.1", "text": "hi"})).ok
    [sent] = platform.requests
    assert sent.route == "/v19.0/me/messages" and sent.query == {"access_token": ["page-token"]}
    assert sent.json == {
        "recipient": {"id": "24680"},
        "messaging_type": "RESPONSE",
        "message": {
            "text": "An answer.\n\n" + numbered_options(BUTTONS),
            "quick_replies": [
                {"content_type": "text", "title": "What a SENCO is and…", "payload": "/kb_senco"},
                {"content_type": "text", "title": "Meetings with the…", "payload": "/kb_meetings"},
                {
                    "content_type": "text",
                    "title": "Talk to an adviser",
                    "payload": "/request_human",
                },
            ],
        },
    }
    tapped = {
        "mid": "m.2",
        "text": "Meetings with the…",
        "quick_reply": {"payload": "/kb_meetings"},
    }
    assert post_messenger(webhooks.url, messenger_event(tapped)).ok
    assert post_messenger(webhooks.url, messenger_event({"mid": "m.3", "text": "2"})).ok
    assert post_messenger(
        webhooks.url, messenger_event({"mid": "m.4", "text": "x", "is_echo": True})
    ).ok
    assert [(m.sender_id, m.text) for m in webhooks.agent.messages] == [
        ("messenger:24680", "hi"),
        ("messenger:24680", "/kb_meetings"),
        ("messenger:24680", "/kb_meetings"),
    ]
    assert webhooks.agent.messages[1].metadata == {"display": "Meetings with the…"}


# Meta's documented webhook examples (developers.facebook.com/docs/messenger-platform/webhooks,
# "messages" and "messaging_postbacks"), complete, in one batch: a text message from a
# page-scoped id, and a postback from the chat plugin, which names a user_ref instead.
META_BATCH = {
    "object": "page",
    "entry": [
        {
            "id": "1357",
            "time": 1458692752478,
            "messaging": [
                {
                    "sender": {"id": "24680"},
                    "recipient": {"id": "1357"},
                    "timestamp": 1762902671,
                    "message": {
                        "mid": "mid.1457764197618:41d102a3e1ae206a38",
                        "text": "hello, world!",
                    },
                },
                {
                    "sender": {"user_ref": "<USER_REF>"},
                    "recipient": {"id": "1357"},
                    "timestamp": 1527459824,
                    "postback": {
                        "mid": "m_MESSAGE-ID",
                        "title": "<TITLE_FOR_THE_CTA>",
                        "payload": "<USER_DEFINED_PAYLOAD>",
                        "referral": {
                            "ref": "<USER_DEFINED_REFERRAL_PARAM>",
                            "source": "<SHORTLINK>",
                            "type": "OPEN_THREAD",
                        },
                    },
                },
            ],
        }
    ],
}


def test_one_unreadable_messenger_event_does_not_lose_the_rest_of_its_batch(
    webhooks, platform, caplog
):
    with caplog.at_level("INFO", logger="bot.channels"):
        reply = post_messenger(webhooks.url, META_BATCH)
    assert reply.status_code == 200, reply.text
    assert [(m.sender_id, m.text) for m in webhooks.agent.messages] == [
        ("messenger:24680", "hello, world!")
    ]
    [sent] = platform.requests  # the good event is answered
    assert sent.json["recipient"] == {"id": "24680"}
    assert any("skipped an event" in r.getMessage() and "user_ref" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    # A batch with nothing readable in it is still refused.
    entry = META_BATCH["entry"][0]
    only_bad = {**META_BATCH, "entry": [{**entry, "messaging": entry["messaging"][1:]}]}
    assert post_messenger(webhooks.url, only_bad).status_code == 400


# Typed, these would skip the NLU: Rasa reads "/intent{entities}" as that intent (issue 16).
TYPED_PAYLOADS = ["/safeguarding", '/request_human{"x":1}', "//safeguarding", "/request_human now"]
READ_AS = ["safeguarding", 'request_human{"x":1}', "safeguarding", "request_human now"]


def test_typed_slash_messages_reach_rasa_as_words_on_every_platform(webhooks):
    for number, text in enumerate(TYPED_PAYLOADS):
        assert post_telegram(webhooks.url, telegram_update(200 + number, text)).ok
        assert post_twilio(webhooks.url, sms(text, sid=f"SM2{number}")).ok
        event = messenger_event({"mid": f"m.2{number}", "text": text})
        assert post_messenger(webhooks.url, event).ok
    by_channel: dict[str, list[str]] = {}
    for message in webhooks.agent.messages:
        by_channel.setdefault(message.input_channel, []).append(message.text)
    assert by_channel == {"telegram": READ_AS, "twilio": READ_AS, "messenger": READ_AS}
    # The assistant's own buttons' payloads, typed, stay what they are, and /start is a greeting.
    assert post_telegram(webhooks.url, telegram_update(210, "/request_human")).ok
    assert post_twilio(webhooks.url, sms("/kb_senco", sid="SM30")).ok
    assert post_telegram(webhooks.url, telegram_update(211, "/start")).ok
    assert [m.text for m in webhooks.agent.messages[-3:]] == [
        "/request_human",
        "/kb_senco",
        "/greet",
    ]


def telegram_press(update_id: int, data: str, title: str) -> dict:
    """A callback_query as the Bot API documents it: the button's data, the parent who pressed
    it, and the bot's own message it sat under."""
    keyboard = {"inline_keyboard": [[{"text": title, "callback_data": data}]]}
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"43{update_id}bfdwdsb323b2d9",
            "chat_instance": "-1",
            "data": data,
            "from": {"id": 42, "is_bot": False, "first_name": "Alex", "language_code": "en"},
            "message": {
                "message_id": update_id,
                "from": BOT_USER,
                "date": 1,
                "chat": {"id": 42, "first_name": "Alex", "type": "private"},
                "text": "An answer.",
                "reply_markup": keyboard,
            },
        },
    }


def messenger_postback(mid: str, payload: str, title: str, psid: str = "24680") -> dict:
    """A messaging_postbacks event as Meta documents it (a postback button, the Get Started
    button or a persistent menu item)."""
    return {
        "object": "page",
        "entry": [
            {
                "id": "1357",
                "time": 1458692752478,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": "1357"},
                        "timestamp": 1458692752478,
                        "postback": {"mid": mid, "title": title, "payload": payload},
                    }
                ],
            }
        ],
    }


def test_button_presses_are_kept_only_for_the_assistants_own_buttons(webhooks):
    assert post_telegram(
        webhooks.url, telegram_press(300, "/request_human", "Talk to an adviser")
    ).ok
    assert post_telegram(webhooks.url, telegram_press(301, "/safeguarding", "Help")).ok
    postback = messenger_postback("m_300", "/request_human", "Talk to an adviser")
    assert post_messenger(webhooks.url, postback).ok
    assert post_messenger(webhooks.url, messenger_postback("m_301", '/stop{"a":1}', "Stop")).ok
    quick = {"mid": "m_302", "text": "Help", "quick_reply": {"payload": "/safeguarding"}}
    assert post_messenger(webhooks.url, messenger_event(quick)).ok
    assert [
        (m.input_channel, m.text, m.metadata.get("display")) for m in webhooks.agent.messages
    ] == [
        ("telegram", "/request_human", "Talk to an adviser"),
        ("telegram", "safeguarding", "Help"),
        ("messenger", "/request_human", "Talk to an adviser"),
        ("messenger", 'stop{"a":1}', "Stop"),
        ("messenger", "safeguarding", "Help"),
    ]


def test_a_message_rasa_fails_on_still_gets_200_and_the_parent_a_note(webhooks, platform, caplog):
    webhooks.agent.fail = True
    reply = post_twilio(webhooks.url, sms("hello", sid="SM30"))
    assert reply.status_code == 200 and "Traceback" not in reply.text
    assert [r.text for r in platform.requests] == [FAILED_REPLY]
    assert any("could not be handled" in r.getMessage() for r in caplog.records)


def test_long_replies_are_split_for_each_platform(webhooks, platform):
    long_text = " ".join(SENTENCES * 60)  # about 14,000 characters
    webhooks.agent.reply = {"text": long_text, "buttons": BUTTONS}
    post_telegram(webhooks.url, telegram_update(40, "tell me everything"))
    post_twilio(webhooks.url, sms("tell me everything", sid="SM40"))
    post_messenger(webhooks.url, messenger_event({"mid": "m.40", "text": "tell me everything"}))
    by_platform = {
        "telegram": (platform.since(0, to="42"), 4096),
        "sms": (platform.since(0, to="+447700900123"), 1600),
        "messenger": (platform.since(0, to="24680"), 2000),
    }
    for name, (sent, limit) in by_platform.items():
        texts = [r.text for r in sent]
        assert len(texts) > 2, name
        assert all(len(text) <= limit for text in texts), name
        assert all(
            text.endswith(("Co-ordinator.", "SENCO!", "pupils?", "needs…", "office).", "adviser"))
            for text in texts
        ), name
        assert " ".join(texts).split()[: len(long_text.split())] == long_text.split()
    telegram = [r.json for r in by_platform["telegram"][0]]
    assert ["reply_markup" in body for body in telegram] == [False] * (len(telegram) - 1) + [True]
    sms_texts = [r.text for r in by_platform["sms"][0]]
    assert sms_texts[-1].endswith("3. Talk to an adviser")
    assert not any("Reply with a number" in text for text in sms_texts[:-1])
    messenger = [r.json["message"] for r in by_platform["messenger"][0]]
    assert ["quick_replies" in m for m in messenger] == [False] * (len(messenger) - 1) + [True]


def test_an_adviser_message_is_sent_through_get_output_channel_and_failures_raise(platform):
    telegram, twilio, messenger = configured_channels(platform.url)
    platform.refuse.add("+447700900999")

    async def push() -> None:
        for channel in (telegram, twilio, messenger):
            output = channel.get_output_channel()
            assert output is not None and output.strict
        await telegram.get_output_channel().send_response(
            "telegram:42", {"text": "Sam (adviser): Hi"}
        )
        await twilio.get_output_channel().send_response(SMS_PARENT, {"text": "Hi"})
        # A conversation from before sealed ids still reaches the parent.
        await twilio.get_output_channel().send_response("sms:+447700900123", {"text": "Hi again"})
        with pytest.raises(DeliveryError, match="phone number can't be read"):
            altered = SMS_PARENT[:-2] + ("AA" if not SMS_PARENT.endswith("AA") else "BB")
            await twilio.get_output_channel().send_response(altered, {"text": "Hi"})
        await messenger.get_output_channel().send_response("messenger:24680", {"text": "Hi"})
        with pytest.raises(
            DeliveryError, match=r"Twilio refused Messages: HTTP 400 \(Twilio error 21610\)"
        ):
            await twilio.get_output_channel().send_response("sms:+447700900999", {"text": "Hi"})
        with pytest.raises(DeliveryError, match="not a Telegram chat"):
            await telegram.get_output_channel().send_response("sms:+447700900123", {"text": "x"})
        # While Rasa handles a parent's message, a refusal is logged, not raised.
        await twilio.make_output(strict=False).send_response("sms:+447700900999", {"text": "Hi"})
        for channel in (telegram, twilio, messenger):
            await channel.api.close()

    asyncio.run(push())
    assert [(r.recipient, r.text) for r in platform.requests] == [
        ("42", "Sam (adviser): Hi"),
        ("+447700900123", "Hi"),
        ("+447700900123", "Hi again"),
        ("24680", "Hi"),
        ("+447700900999", "Hi"),
        ("+447700900999", "Hi"),
    ]


def test_an_unreachable_platform_is_a_clear_error_without_the_token():
    async def send() -> str:
        api = PlatformApi("Telegram", timeout=2)
        channel = TelegramInput(TelegramSettings(TG_TOKEN, SECRET, "http://127.0.0.1:9"))
        channel.api = api
        try:
            await channel.get_output_channel().send_response("telegram:1", {"text": "x"})
        except DeliveryError as problem:
            return str(problem)
        finally:
            await api.close()
        return ""

    problem = asyncio.run(send())
    assert re.fullmatch(r"Telegram could not be reached for sendMessage \(\w+\)\.", problem)
    assert TG_TOKEN not in problem
    assert chat_id("telegram:-100123") == -100123


def test_registering_the_telegram_webhook_sends_the_secret_token(platform, monkeypatch, capsys):
    monkeypatch.setenv("SEN_TELEGRAM_TOKEN", TG_TOKEN)
    monkeypatch.setenv("SEN_TELEGRAM_SECRET_TOKEN", SECRET)
    monkeypatch.setenv("SEN_TELEGRAM_API_URL", platform.url)
    url = "https://assistant.example.org/webhooks/telegram/webhook"
    assert channels_cli.main(["telegram-webhook", url]) == 0
    [call] = platform.requests
    assert call.route == f"/bot{TG_TOKEN}/setWebhook"
    assert call.json == {
        "url": url,
        "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"],
    }
    assert channels_cli.main(["telegram-webhook", "http://insecure.example.org/x"]) == 2
    assert channels_cli.main(["status"]) == 0
    assert "Telegram: on" in capsys.readouterr().out


def test_a_conversation_over_its_rate_limit_is_told_once_to_wait_and_rasa_never_sees_it(
    platform, monkeypatch
):
    monkeypatch.setenv("SEN_RATE_LIMIT", "2/60")
    agent = FakeAgent()
    with served(configured_channels(platform.url), agent) as url:
        for update_id in range(20, 25):
            assert post_telegram(url, telegram_update(update_id, f"message {update_id}")).ok
        assert post_telegram(url, telegram_update(30, "another parent", chat=43)).ok
    assert [(m.sender_id, m.text) for m in agent.messages] == [
        ("telegram:42", "message 20"),
        ("telegram:42", "message 21"),
        ("telegram:43", "another parent"),
    ]
    sent = [(r.json["chat_id"], r.json["text"]) for r in platform.requests]
    assert sent == [
        (42, "An answer."),
        (42, "An answer."),
        (42, RATE_LIMITED_REPLY),
        (43, "An answer."),
    ]


# --- SMS and WhatsApp conversation ids: the phone number sealed, not written -------------------


def test_a_phone_number_is_sealed_into_its_conversation_id():
    ids = PhoneIds(ID_SECRET)
    sms = ids.conversation(PARENT_PHONE, whatsapp=False)
    whatsapp = ids.conversation(PARENT_PHONE, whatsapp=True)
    assert sms.startswith("sms:p.") and whatsapp.startswith("whatsapp:p.")
    for conversation in (sms, whatsapp):
        assert "7700900123" not in conversation and "447700" not in conversation
        assert len(conversation) <= 255  # Rasa's sender_id column
        assert ids.phone(conversation) == PARENT_PHONE
    assert sms != whatsapp
    # The same number is the same conversation, message after message, process after process.
    assert PhoneIds(ID_SECRET).conversation(PARENT_PHONE, whatsapp=False) == sms
    assert ids.conversation("+447700900124", whatsapp=False) != sms


def test_a_sealed_id_can_be_read_only_with_its_secret_and_not_relabelled():
    sms = PhoneIds(ID_SECRET).conversation(PARENT_PHONE, whatsapp=False)
    assert PhoneIds("another secret").phone(sms) is None
    relabelled = "whatsapp:" + sms.removeprefix("sms:")
    assert PhoneIds(ID_SECRET).phone(relabelled) is None
    for broken in (sms + "x", sms[:-3], "sms:p.", "sms:p.!!!", "sms:+447700900123", "telegram:42"):
        assert PhoneIds(ID_SECRET).phone(broken) is None
    with pytest.raises(ValueError):
        PhoneIds("")


def test_an_sms_reaches_rasa_under_its_sealed_id_and_the_answer_goes_to_the_number(
    webhooks, platform
):
    webhooks.agent.reply = {"text": "An answer."}
    post_twilio(webhooks.url, sms("what is a senco", sid="SM40"))
    assert webhooks.agent.messages[-1].sender_id == SMS_PARENT
    assert "7700900123" not in webhooks.agent.messages[-1].sender_id
    assert platform.requests[-1].form["To"] == [PARENT_PHONE]


def test_the_command_line_finds_a_numbers_conversations(monkeypatch, capsys):
    monkeypatch.setenv("SEN_CHANNEL_ID_SECRET", ID_SECRET)
    assert channels_cli.main(["conversation-id", "+44 7700 900123"]) == 0
    out = capsys.readouterr().out
    assert SMS_PARENT in out
    assert PhoneIds(ID_SECRET).conversation(PARENT_PHONE, whatsapp=True) in out
    assert channels_cli.main(["conversation-id", "07700 900123"]) == 2
