"""Telegram, SMS, WhatsApp and Messenger against the real Rasa server, action server and adviser
API, started by the test run with the channels configured to send to a local recorder.

Webhook calls are the platforms' documented payloads (a Telegram Update with a message or a
callback_query; Twilio's form-encoded SMS and WhatsApp with From/To/Body; a Messenger page entry
with a text or a quick reply), signed as the platform signs them, or not.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from bot.assistant import replies
from bot.assistant.safeguarding import SAFEGUARDING_REPLY
from bot.cases.desk import CLOSED_REPLY
from bot.cases.store import CaseStore
from bot.cases.watcher import LEFT_REPLY
from bot.channels.common import numbered_options
from bot.channels.messenger import hub_signature
from bot.channels.telegram import SECRET_HEADER
from bot.channels.twilio import PhoneIds, twilio_signature
from bot.contract import Priority, Reason, Status, more_payload
from bot.ops.servers import Servers
from tests.helpers.adviser_client import call_adviser_api
from tests.helpers.platform_recorder import PlatformRecorder, Recorded
from tests.helpers.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "sen-assistant.tar.gz"
RASA_PORT, ACTIONS_PORT, ADVISER_PORT = free_ports(3)

TG_TOKEN = "7000000001:AAF-channels_test"
TG_SECRET = "tg-secret-" + secrets.token_hex(12)
TWILIO_SID = "AC" + "2" * 32
TWILIO_TOKEN = secrets.token_hex(16)
PUBLIC_TWILIO_URL = "https://assistant.example.org/webhooks/twilio/webhook"
SMS_FROM = "+447700900000"
ID_SECRET = "channel-id-secret-for-server-tests"
WHATSAPP_FROM = "+447700900001"
FB_SECRET = secrets.token_hex(16)
FB_VERIFY = "fb-verify-" + secrets.token_hex(8)
FB_PAGE_TOKEN = "EAAB-page-token"
CHANNELS = ["telegram", "sms", "whatsapp", "messenger"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def platform():
    with PlatformRecorder() as recorder:
        yield recorder


@pytest.fixture(scope="module")
def servers(tmp_path_factory, platform):
    assert MODEL.exists(), "Train first: `make train` (make test does this)."
    data_dir = tmp_path_factory.mktemp("channels")
    env = {
        "SEN_OPENING_HOURS": "Mon-Sun 00:00-23:59",
        "SEN_TELEGRAM_TOKEN": TG_TOKEN,
        "SEN_TELEGRAM_SECRET_TOKEN": TG_SECRET,
        "SEN_TELEGRAM_API_URL": platform.url,
        "SEN_TWILIO_ACCOUNT_SID": TWILIO_SID,
        "SEN_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "SEN_TWILIO_WEBHOOK_URL": PUBLIC_TWILIO_URL,
        "SEN_TWILIO_SMS_FROM": SMS_FROM,
        "SEN_TWILIO_WHATSAPP_FROM": f"whatsapp:{WHATSAPP_FROM}",
        "SEN_TWILIO_API_URL": platform.url,
        "SEN_MESSENGER_PAGE_TOKEN": FB_PAGE_TOKEN,
        "SEN_MESSENGER_APP_SECRET": FB_SECRET,
        "SEN_MESSENGER_VERIFY_TOKEN": FB_VERIFY,
        "SEN_MESSENGER_API_URL": f"{platform.url}/v19.0",
        "SEN_CHANNEL_ID_SECRET": ID_SECRET,
    }
    servers = Servers(
        MODEL,
        RASA_PORT,
        ACTIONS_PORT,
        ADVISER_PORT,
        data_dir=data_dir,
        log_dir=data_dir / "logs",
        extra_env=env,
    )
    store = CaseStore(f"sqlite:///{data_dir / 'handoff.db'}")
    servers.store = store
    servers.adviser_token = store.add_adviser("sam", "Sam")
    store.set_available("sam", True)
    with servers:
        yield servers
    store.engine.dispose()


@pytest.fixture
def adviser_away(servers):
    servers.store.set_available("sam", False)
    yield
    servers.store.set_available("sam", True)


# --- a parent on a platform ------------------------------------------------------------------
_numbers = itertools.count(1000)


@dataclass
class Parent:
    """A parent on one platform, who sends signed webhook calls and whose messages the recorder
    receives."""

    servers: Servers
    platform: PlatformRecorder
    channel: str
    ident: str  # Telegram chat id, phone number, or PSID

    @classmethod
    def new(cls, servers: Servers, platform: PlatformRecorder, channel: str) -> Parent:
        number = next(_numbers)
        ident = {
            "telegram": str(500000000 + number),
            "sms": f"+4477009{number:05d}",
            "whatsapp": f"+4477008{number:05d}",
            "messenger": str(7000000000000000 + number),
        }[channel]
        return cls(servers, platform, channel, ident)

    @property
    def conversation(self) -> str:
        if self.channel in ("sms", "whatsapp"):  # the number sealed, as the channel does it
            return PhoneIds(ID_SECRET).conversation(self.ident, self.channel == "whatsapp")
        return {
            "telegram": "telegram:",
            "sms": "sms:",
            "whatsapp": "whatsapp:",
            "messenger": "messenger:",
        }[self.channel] + self.ident

    @property
    def recipient(self) -> str:
        """How the platform API call names the parent (chat_id, To, recipient.id)."""
        return f"whatsapp:{self.ident}" if self.channel == "whatsapp" else self.ident

    # --- sending -----------------------------------------------------------------------------
    def say(self, text: str) -> list[Recorded]:
        """Send a message; the messages the parent was sent while it was handled."""
        mark = self.platform.mark()
        reply = self.post(text)
        assert reply.status_code == 200, reply.text
        return self.platform.since(mark, to=self.recipient)

    def post(self, text: str, signed: bool = True) -> requests.Response:
        number = next(_numbers)
        if self.channel == "telegram":
            update = {
                "update_id": number,
                "message": {
                    "message_id": number,
                    "date": int(time.time()),
                    "text": text,
                    "chat": {"id": int(self.ident), "type": "private", "first_name": "Alex"},
                    "from": {"id": int(self.ident), "is_bot": False, "first_name": "Alex"},
                },
            }
            return post_telegram(self.servers, update, TG_SECRET if signed else "wrong-secret")
        if self.channel in ("sms", "whatsapp"):
            sender, to = (
                (f"whatsapp:{self.ident}", f"whatsapp:{WHATSAPP_FROM}")
                if self.channel == "whatsapp"
                else (self.ident, SMS_FROM)
            )
            params = [
                ("ToCountry", "GB"),
                ("SmsMessageSid", f"SM{number:032d}"),
                ("NumMedia", "0"),
                ("SmsSid", f"SM{number:032d}"),
                ("SmsStatus", "received"),
                ("Body", text),
                ("To", to),
                ("NumSegments", "1"),
                ("MessageSid", f"SM{number:032d}"),
                ("AccountSid", TWILIO_SID),
                ("From", sender),
                ("ApiVersion", "2010-04-01"),
            ]
            return post_twilio(self.servers, params, TWILIO_TOKEN if signed else "not-the-token")
        message = {"mid": f"m_{number}", "text": text}
        return post_messenger(self.servers, self.entry(message), FB_SECRET if signed else "guess")

    def entry(self, message: dict) -> dict:
        return {
            "object": "page",
            "entry": [
                {
                    "id": "1357",
                    "time": int(time.time() * 1000),
                    "messaging": [
                        {
                            "sender": {"id": self.ident},
                            "recipient": {"id": "1357"},
                            "timestamp": int(time.time() * 1000),
                            "message": message,
                        }
                    ],
                }
            ],
        }

    def press(self, sent: Recorded, index: int) -> list[Recorded]:
        """Press the button at ``index`` under a message the parent was sent, as the platform
        reports it: a Telegram callback_query, a Messenger quick reply, a number by SMS."""
        mark = self.platform.mark()
        number = next(_numbers)
        if self.channel == "telegram":
            button = sent.json["reply_markup"]["inline_keyboard"][index][0]
            update = {
                "update_id": number,
                "callback_query": {
                    "id": str(number),
                    "chat_instance": "1",
                    "data": button["callback_data"],
                    "from": {"id": int(self.ident), "is_bot": False, "first_name": "Alex"},
                    "message": {
                        "message_id": 1,
                        # the bot's own message, under which the button sits
                        "from": {
                            "id": 7000001,
                            "is_bot": True,
                            "first_name": "SEN Support",
                            "username": "sen_support_bot",
                        },
                        "date": 1,
                        "text": sent.json["text"],
                        "chat": {"id": int(self.ident), "first_name": "Alex", "type": "private"},
                        "reply_markup": sent.json["reply_markup"],
                    },
                },
            }
            assert post_telegram(self.servers, update, TG_SECRET).status_code == 200
        elif self.channel == "messenger":
            reply = sent.json["message"]["quick_replies"][index]
            message = {
                "mid": f"m_{number}",
                "text": reply["title"],
                "quick_reply": {"payload": reply["payload"]},
            }
            assert post_messenger(self.servers, self.entry(message), FB_SECRET).status_code == 200
        else:
            assert self.post(str(index + 1)).status_code == 200
        return self.platform.since(mark, to=self.recipient)


def post_telegram(servers: Servers, update: dict, secret: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return requests.post(
        f"{servers.url}/webhooks/telegram/webhook",
        data=json.dumps(update),
        headers=headers,
        timeout=60,
    )


def post_twilio(
    servers: Servers, params: list[tuple[str, str]], token: str | None
) -> requests.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token is not None:
        headers["X-Twilio-Signature"] = twilio_signature(token, PUBLIC_TWILIO_URL, params)
    return requests.post(
        f"{servers.url}/webhooks/twilio/webhook",
        data=urlencode(params),
        headers=headers,
        timeout=60,
    )


def post_messenger(
    servers: Servers, payload: dict | bytes, secret: str | None
) -> requests.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = hub_signature(secret, body)
    return requests.post(
        f"{servers.url}/webhooks/messenger/webhook", data=body, headers=headers, timeout=60
    )


@pytest.fixture(params=CHANNELS)
def parent(request, servers, platform) -> Parent:
    return Parent.new(servers, platform, request.param)


def texts(sent: list[Recorded]) -> list[str]:
    return [record.text for record in sent]


def button_titles(record: Recorded, channel: str) -> list[str]:
    """The options under a message, as the parent sees them."""
    if channel == "telegram":
        return [
            row[0]["text"] for row in record.json.get("reply_markup", {}).get("inline_keyboard", [])
        ]
    if channel == "messenger":
        return [reply["title"] for reply in record.json["message"].get("quick_replies", [])]
    return re.findall(r"^\d+\. (.+)$", record.text.split("Reply with a number:")[-1], re.M)


def slots(servers: Servers, conversation: str) -> dict:
    url = f"{servers.url}/conversations/{conversation}/tracker"
    return requests.get(url, headers=servers.api_headers(), timeout=30).json()["slots"]


def adviser(servers: Servers, method: str, path: str, body: dict | None = None):
    return call_adviser_api(servers.adviser_url, servers.adviser_token, method, path, body)


def stored_events(servers: Servers, conversation: str) -> int:
    """Rows for a conversation in the tracker store and the event broker, read directly (asking
    Rasa's API for a tracker would create one)."""
    count = 0
    for name in ("rasa.db", "events.db"):
        with sqlite3.connect(servers.data_dir / name) as db:
            tables = {row[0] for row in db.execute("select name from sqlite_master")}
            if "events" in tables:
                query = "select count(*) from events where sender_id = ?"
                count += db.execute(query, (conversation,)).fetchone()[0]
    return count


# --- answers, buttons and numbers ------------------------------------------------------------
def test_a_parent_is_answered_from_the_article_with_the_channels_buttons(parent, kb):
    sent = parent.say("my ds is 7 who is the senco and what do they do")
    assert "automated" in sent[0].text, "the introduction comes first"
    answer = sent[-1]
    assert answer.text.startswith(kb.articles["senco"].answer.strip()[:60])
    assert "Source: SEN Support guidance" in answer.text
    titles = button_titles(answer, parent.channel)
    assert titles[-1] == "Talk to an adviser" and len(titles) >= 2
    related = [kb.articles[r].title for r in kb.articles["senco"].related[:3]]
    if parent.channel == "telegram":
        assert answer.route == f"/bot{TG_TOKEN}/sendMessage"
        assert answer.json["chat_id"] == int(parent.ident) and titles[:-1] == related
        assert all("reply_markup" not in r.json for r in sent[:-1])
    elif parent.channel == "messenger":
        assert answer.route == "/v19.0/me/messages"
        assert answer.query["access_token"] == [FB_PAGE_TOKEN]
        assert answer.json["messaging_type"] == "RESPONSE"
        assert all(len(title) <= 20 for title in titles)
        # The quick replies can't hold these titles, so the text lists them in full.
        assert answer.text.endswith(
            numbered_options(
                [{"title": t, "payload": "-"} for t in [*related, "Talk to an adviser"]]
            )
        )
    else:
        sender = f"whatsapp:{WHATSAPP_FROM}" if parent.channel == "whatsapp" else SMS_FROM
        assert answer.route == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        assert answer.form["From"] == [sender] and answer.form["To"] == [parent.recipient]
        assert titles == [*related, "Talk to an adviser"]
        assert "\n\nReply with a number:\n1. " in answer.text
    state = slots(parent.servers, parent.conversation)
    assert (state["route"], state["kb_article"]) == ("answer", "senco")
    assert stored_events(parent.servers, parent.conversation) > 0  # what "no tracker" checks


def test_a_parent_on_sms_answers_a_numbered_option_and_gets_that_article(servers, platform, kb):
    parent = Parent.new(servers, platform, "sms")
    answer = parent.say("what is the graduated approach")[-1]
    first = slots(servers, parent.conversation)["kb_article"]
    options = button_titles(answer, "sms")
    assert len(options) >= 3 and "2. " + options[1] in answer.text
    chosen = next(a for a in kb.articles.values() if a.title == options[1])
    assert chosen.id != first

    reply = parent.say("2")[-1]

    assert slots(servers, parent.conversation)["kb_article"] == chosen.id
    assert reply.text.startswith(chosen.answer.strip()[:60])
    assert kb.source_line(chosen) in reply.text


@pytest.mark.parametrize("channel", ["telegram", "messenger", "whatsapp"])
def test_pressing_a_button_gives_that_article(servers, platform, kb, channel):
    parent = Parent.new(servers, platform, channel)
    answer = parent.say("what is the graduated approach")[-1]
    related = kb.articles[kb.articles["graduated-approach"].related[0]]
    mark = platform.mark()
    sent = parent.press(answer, 0)
    assert slots(servers, parent.conversation)["kb_article"] == related.id
    assert sent[-1].text.startswith(related.answer.strip()[:60])
    if channel == "telegram":  # the button's spinner is stopped first
        first = platform.since(mark)[0]
        assert first.route.endswith("/answerCallbackQuery") and first.json["callback_query_id"]


def test_the_safeguarding_reply_reaches_the_parent_on_every_channel(parent):
    sent = parent.say("he told me last night he wants to kill himself, what do i do")
    assert SAFEGUARDING_REPLY in texts(sent)
    [case] = parent.servers.store.cases(conversation_id=parent.conversation)
    assert case.reason is Reason.SAFEGUARDING and case.priority is Priority.URGENT
    assert case.channel == ("twilio" if parent.channel in ("sms", "whatsapp") else parent.channel)


def test_a_possible_risk_gets_the_answer_and_the_short_line_on_every_channel(parent):
    sent = parent.say(
        "things at home are really hard at the moment and i feel like i cant cope, who is the senco"
    )
    said = texts(sent)
    assert SAFEGUARDING_REPLY not in said
    assert any(t.startswith(replies.text("safeguarding.possible_line")) for t in said)
    assert slots(parent.servers, parent.conversation)["safety_note"] is True
    assert parent.servers.store.cases(conversation_id=parent.conversation) == []


def test_typed_slash_payloads_are_read_as_words_on_every_channel(parent):
    """Issue 16: Rasa reads "/intent{entities}" as that intent, so typed they must not act."""
    for text in ("/safeguarding", '/request_human{"x":1}'):
        sent = parent.say(text)
        assert sent and SAFEGUARDING_REPLY not in texts(sent)
        assert slots(parent.servers, parent.conversation)["route"] not in (
            "safeguarding",
            "escalate",
        )
    assert parent.servers.store.cases(conversation_id=parent.conversation) == []


def test_the_adviser_button_still_hands_over_on_every_channel(parent):
    answer = parent.say("what is a senco")[-1]
    titles = button_titles(answer, parent.channel)
    assert titles[-1] == "Talk to an adviser"
    parent.press(answer, len(titles) - 1)  # a keyboard button, a quick reply, or its number
    assert slots(parent.servers, parent.conversation)["route"] == "escalate"
    [case] = parent.servers.store.cases(conversation_id=parent.conversation)
    assert case.reason is Reason.PARENT_ASKED
    adviser(parent.servers, "POST", f"/cases/{case.id}/close", {"outcome": "test"})


def test_a_messenger_postback_of_the_adviser_button_hands_over(servers, platform):
    """A postback (the page's persistent menu, say), as Meta documents messaging_postbacks."""
    parent = Parent.new(servers, platform, "messenger")
    number = next(_numbers)
    now = int(time.time() * 1000)
    event = {
        "sender": {"id": parent.ident},
        "recipient": {"id": "1357"},
        "timestamp": now,
        "postback": {
            "mid": f"m_{number}",
            "title": "Talk to an adviser",
            "payload": "/request_human",
        },
    }
    body = {"object": "page", "entry": [{"id": "1357", "time": now, "messaging": [event]}]}
    assert post_messenger(servers, body, FB_SECRET).status_code == 200
    assert slots(servers, parent.conversation)["route"] == "escalate"
    [case] = servers.store.cases(conversation_id=parent.conversation)
    assert case.reason is Reason.PARENT_ASKED
    adviser(servers, "POST", f"/cases/{case.id}/close", {"outcome": "test"})


# --- "Tell me more" ------------------------------------------------------------------------
@pytest.mark.parametrize("channel", ["telegram", "sms", "messenger"])
def test_tell_me_more_under_an_answer_gives_the_articles_detail(servers, platform, kb, channel):
    """Pressed as each platform reports it: Telegram's callback_query (with the bot's own message
    and its ``from``), a number by SMS, a Messenger quick reply."""
    parent = Parent.new(servers, platform, channel)
    article = kb.articles["sendiass"]
    answer = parent.say("what is sendiass")[-1]
    assert slots(servers, parent.conversation)["kb_article"] == "sendiass"
    titles = button_titles(answer, channel)
    assert titles[0] == replies.text("buttons.more")
    sent = parent.press(answer, 0)
    detail = sent[-1].text
    assert detail.startswith(article.detail.strip()[:60])
    assert kb.source_line(article) in detail
    state = slots(servers, parent.conversation)
    assert (state["route"], state["kb_article"]) == ("answer", "sendiass")


def test_a_messenger_postback_of_tell_me_more_gives_the_detail(servers, platform, kb):
    """A postback (a button template, say), as Meta documents messaging_postbacks."""
    parent = Parent.new(servers, platform, "messenger")
    number = next(_numbers)
    now = int(time.time() * 1000)
    event = {
        "sender": {"id": parent.ident},
        "recipient": {"id": "1357"},
        "timestamp": now,
        "postback": {
            "mid": f"m_{number}",
            "title": "Tell me more",
            "payload": more_payload("speech-language-therapist"),
        },
    }
    body = {"object": "page", "entry": [{"id": "1357", "time": now, "messaging": [event]}]}
    mark = platform.mark()
    assert post_messenger(servers, body, FB_SECRET).status_code == 200
    article = kb.articles["speech-language-therapist"]
    sent = platform.since(mark, to=parent.recipient)
    assert any(article.detail.strip()[:60] in record.text for record in sent)
    state = slots(servers, parent.conversation)
    assert (state["route"], state["kb_article"]) == ("answer", article.id)


# --- the hand-off ----------------------------------------------------------------------------
LONG_ADVISER_MESSAGE = " ".join(
    ["Thanks for waiting, I have read what you wrote about your son's reading."]
    + [
        f"Point {n}: ask the school what support he gets and how they will check it works."
        for n in range(1, 30)
    ]
)[:1995].strip()  # the adviser API takes up to 2000; with "Sam (adviser): " over Messenger's


def waiting_case(servers: Servers, conversation: str) -> dict:
    status, body = adviser(servers, "GET", "/cases?status=waiting")
    assert status == 200
    return next(c for c in body["cases"] if c["conversation_id"] == conversation)


def test_an_adviser_chats_with_the_parent_through_the_platform(parent, platform):
    servers = parent.servers
    queued = parent.say("can i talk to someone please")
    assert "An adviser will join this chat" in queued[-1].text
    assert button_titles(queued[-1], parent.channel) == ["Leave the queue"]
    case = waiting_case(servers, parent.conversation)

    mark = platform.mark()
    assert adviser(servers, "POST", f"/cases/{case['id']}/claim", {})[0] == 200
    joined = platform.wait_for(
        mark, lambda sent: any(r.recipient == parent.recipient for r in sent)
    )
    assert texts([r for r in joined if r.recipient == parent.recipient]) == [
        "Sam, an adviser, has joined the chat."
    ]

    assert parent.say("hello is anyone there") == [], "the bot stays quiet"

    mark = platform.mark()
    status, _ = adviser(
        servers, "POST", f"/cases/{case['id']}/messages", {"text": LONG_ADVISER_MESSAGE}
    )
    assert status == 201
    parts = texts(platform.since(mark, to=parent.recipient))
    limit = {"telegram": 4096, "sms": 1600, "whatsapp": 1600, "messenger": 2000}[parent.channel]
    assert len(parts) == (1 if parent.channel == "telegram" else 2)
    assert all(len(part) <= limit for part in parts)
    assert parts[0].startswith("Sam (adviser): Thanks for waiting")
    assert " ".join(parts).split() == f"Sam (adviser): {LONG_ADVISER_MESSAGE}".split()
    assert all(part.endswith((".", "works")) for part in parts[:-1])

    mark = platform.mark()
    status, _ = adviser(servers, "POST", f"/cases/{case['id']}/close", {"outcome": "talked"})
    assert status == 200
    assert texts(platform.since(mark, to=parent.recipient)) == [CLOSED_REPLY]
    assert any("Source: SEN Support guidance" in t for t in texts(parent.say("what is a senco")))


def test_a_parent_on_whatsapp_leaves_the_queue_by_its_number(servers, platform):
    parent = Parent.new(servers, platform, "whatsapp")
    queued = parent.say("i want to speak to an adviser")[-1]
    assert queued.text.endswith("Reply with a number:\n1. Leave the queue")
    case = waiting_case(servers, parent.conversation)
    mark = platform.mark()
    parent.post("1")
    left = platform.wait_for(mark, lambda sent: any(r.recipient == parent.recipient for r in sent))
    assert texts([r for r in left if r.recipient == parent.recipient]) == [LEFT_REPLY]
    # The hand-off watcher tells the parent, then closes the case: give it a moment.
    deadline = time.monotonic() + 10
    while servers.store.get(case["id"]).status is not Status.CLOSED and time.monotonic() < deadline:
        time.sleep(0.2)
    assert servers.store.get(case["id"]).status is Status.CLOSED


def test_an_adviser_message_the_platform_refuses_is_reported_not_stored(servers, platform):
    parent = Parent.new(servers, platform, "telegram")
    parent.say("can i talk to a person")
    case = waiting_case(servers, parent.conversation)
    assert adviser(servers, "POST", f"/cases/{case['id']}/claim", {})[0] == 200
    platform.refuse.add(parent.ident)  # the parent blocked the bot
    try:
        status, body = adviser(servers, "POST", f"/cases/{case['id']}/messages", {"text": "Hello?"})
    finally:
        platform.refuse.discard(parent.ident)
    assert status == 502 and "The message was not sent" in body["error"]
    assert "Telegram refused sendMessage" in body["error"] and TG_TOKEN not in body["error"]
    status, body = adviser(servers, "GET", f"/cases/{case['id']}")
    assert "Sam (adviser): Hello?" not in [m["text"] for m in body["transcript"]]
    adviser(servers, "POST", f"/cases/{case['id']}/close", {"outcome": "blocked"})


def test_the_call_back_form_works_by_text_on_sms(servers, platform, adviser_away):
    parent = Parent.new(servers, platform, "sms")
    offer = parent.say("can i talk to someone please")[-1]
    assert "No adviser is online right now" in offer.text
    assert button_titles(offer, "sms") == ["Ask an adviser to contact me", "No thanks"]
    privacy, consent = parent.say("1")[-2:]  # consent first, before any detail is typed
    assert privacy.text.startswith("Before you give any details")
    assert button_titles(consent, "sms") == ["Yes, I agree", "No"]
    assert "How should an adviser contact you?" in parent.say("1")[-1].text
    assert "good time" in parent.say("07700 900123")[-1].text
    assert "first name" in parent.say("weekday mornings")[-1].text
    done = parent.say("skip")[-1]
    case = servers.store.open_case_for(parent.conversation)
    assert case.status is Status.CALLBACK_REQUESTED and case.channel == "twilio"
    assert case.callback.contact == "07700900123" and case.callback.best_time == "weekday mornings"
    assert case.reference in done.text


# --- refusing what the platforms did not send ------------------------------------------------
def test_unverified_calls_are_refused_and_create_no_tracker(servers, platform):
    words = "my daughter has autism and her school refuses to help"
    mark = platform.mark()
    recipients = set()
    for channel in CHANNELS:
        parent = Parent.new(servers, platform, channel)
        recipients.add(parent.recipient)
        reply = parent.post(words, signed=False)
        assert (reply.status_code, reply.text) == (403, "forbidden"), channel
        if channel == "telegram":  # no secret token header at all
            unsigned = post_telegram(servers, {"update_id": 1}, None)
        elif channel == "messenger":
            unsigned = post_messenger(servers, parent.entry({"text": words}), None)
        else:
            unsigned = post_twilio(servers, [("From", parent.recipient), ("Body", words)], None)
        assert unsigned.status_code == 403, channel
        assert stored_events(servers, parent.conversation) == 0, channel
    assert [r for r in platform.since(mark) if r.recipient in recipients] == [], "none was sent"
    log = (servers.log_dir / "rasa.log").read_text()
    for name in ("Telegram", "Twilio", "Messenger"):
        assert f"{name}: refused an unverified webhook call" in log
    assert words not in log


def test_oversized_malformed_and_handshake_calls_on_the_running_server(servers, platform):
    mark = platform.mark()
    big = {"update_id": 1, "message": {"text": "x" * 70_000}}
    assert post_telegram(servers, big, TG_SECRET).status_code == 413
    reply = post_messenger(servers, b'{"object": "page", "entry": [{"messaging": [7]}]}', FB_SECRET)
    assert reply.status_code == 400 and "Traceback" not in reply.text
    reply = post_twilio(servers, [("From", "+44"), ("Body", "hi")], TWILIO_TOKEN)
    assert reply.status_code == 400
    url = f"{servers.url}/webhooks/messenger/webhook"
    challenge = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    ok = requests.get(url, params={**challenge, "hub.verify_token": FB_VERIFY}, timeout=10)
    assert (ok.status_code, ok.text) == (200, "1158201444")
    no = requests.get(url, params={**challenge, "hub.verify_token": "nope"}, timeout=10)
    assert no.status_code == 403
    assert platform.since(mark) == []
