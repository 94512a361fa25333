"""What crosses the layers: the names the slots, routes and intents use, the article-id <-> intent
rule, the id of a bot message, and the case records the responder hands to the case store.

Imports nothing of ours, so every layer can use it. The slot names are the contract outside
evaluations read (``route``, ``kb_article``, ``kb_articles``, ``escalated_topics``,
``safety_note``): see docs/architecture.md.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone

# Routes: what the assistant did with a turn (the ``route`` slot).
ROUTE_ANSWER = "answer"
ROUTE_CLARIFY = "clarify"
ROUTE_ESCALATE = "escalate"
ROUTE_SAFEGUARDING = "safeguarding"
ROUTE_SMALLTALK = "smalltalk"
ROUTES = (ROUTE_ANSWER, ROUTE_CLARIFY, ROUTE_ESCALATE, ROUTE_SAFEGUARDING, ROUTE_SMALLTALK)

# Intents with a meaning of their own.
SAFEGUARDING_INTENT = "safeguarding"  # given by bot.plugins.nlu.SafeguardingOverride
OUT_OF_SCOPE_INTENT = "out_of_scope"
REQUEST_HUMAN_INTENT = "request_human"

ARTICLE_INTENT_PREFIX = "kb_"

# The header in which Rasa (bot.plugins.rasa_run) sends the action server its shared secret
# (bot.settings.actions_secret); the action server (actions.server) refuses calls without it.
ACTIONS_SECRET_HEADER = "X-SEN-Actions-Secret"

# Slots the actions set after every bot turn (the contract: docs/architecture.md).
SLOT_ROUTE = "route"
SLOT_KB_ARTICLE = "kb_article"
SLOT_KB_ARTICLES = "kb_articles"
SLOT_ESCALATED_TOPICS = "escalated_topics"
SLOT_SAFETY_NOTE = "safety_note"
# Context the responder keeps between turns (not part of the outside contract).
SLOT_OFFERED = "offered_topics"  # the articles a clarify offered, for a short answer to pick from
SLOT_CHILD_STAGE = "child_stage"  # early-years, school or post-16, when the parent has said

# The parse-data key where the NLU puts each asking part of a longer message with its ranking.
PARTS_KEY = "parts"
# Where the NLU puts how likely the message (and each part) is beyond the guidance, 0 to 1.
BEYOND_KEY = "beyond"


def intent_for_article(article_id: str) -> str:
    """The intent of an article: ``speech-language-therapist`` ->
    ``kb_speech_language_therapist``."""
    return ARTICLE_INTENT_PREFIX + article_id.replace("-", "_")


# The "Tell me more" button under an answer: the article's intent with this entity, so it takes the
# article's own rule to the answer action, which gives the article's detail.
MORE_ENTITY = "more"


def more_payload(article_id: str) -> str:
    """The "Tell me more" button's payload: ``/kb_senco{"more":"detail"}``."""
    return f'/{intent_for_article(article_id)}{{"{MORE_ENTITY}":"detail"}}'


def article_for_intent(intent: str | None) -> str | None:
    """The article id an intent names, or None when it is not an article's intent."""
    if not intent or not intent.startswith(ARTICLE_INTENT_PREFIX):
        return None
    return intent[len(ARTICLE_INTENT_PREFIX) :].replace("_", "-")


_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 control characters but tab and newline (NUL breaks CSV, ESC drives terminals).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """Text as every part may store and show it: an unpaired surrogate (which no encoder
    accepts) becomes U+FFFD, line ends become newlines, other control characters are dropped,
    and the whole is NFC, so the same words are always the same characters. Used where a
    message enters (every channel) and where stored text is read back (transcripts)."""
    text = _SURROGATE.sub("\ufffd", text).replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", _CONTROL.sub("", text))


def message_id(timestamp: object, text: str) -> str:
    """The id of a bot message: derived from its event's timestamp and text, so the widget, the
    tracker's history and the console all name the same message the same way (feedback is stored
    against it)."""
    return hashlib.sha256(f"{timestamp!r}|{text}".encode()).hexdigest()[:16]


# Case records: made by the responder, stored by bot.cases.store.
class Reason(str, enum.Enum):
    BEYOND_GUIDANCE = "beyond_guidance"
    SAFEGUARDING = "safeguarding"
    PARENT_ASKED = "parent_asked"
    REPEATED_MISSES = "repeated_misses"


class Priority(str, enum.Enum):
    URGENT = "urgent"
    NORMAL = "normal"


class Status(str, enum.Enum):
    WAITING = "waiting"
    LIVE = "live"
    CALLBACK_REQUESTED = "callback_requested"
    CLOSED = "closed"


OPEN_STATUSES = (Status.WAITING.value, Status.LIVE.value, Status.CALLBACK_REQUESTED.value)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def new_reference() -> str:
    """A reference a parent can quote: short, unambiguous characters, not guessable in bulk."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "SEN-" + "".join(secrets.choice(alphabet) for _ in range(6))


@dataclass
class Callback:
    """How and when to call a parent back; stored only with their consent."""

    contact: str
    best_time: str
    first_name: str | None = None
    consented_at: datetime = field(default_factory=_now)


@dataclass
class Case:
    conversation_id: str
    channel: str
    reason: Reason
    topic: str | None = None
    priority: Priority = Priority.NORMAL
    status: Status = Status.WAITING
    summary: str = ""
    adviser: str | None = None
    outcome: str | None = None
    callback: Callback | None = None
    paused: bool = False
    reference: str = field(default_factory=new_reference)
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    claimed_at: datetime | None = None  # when an adviser first took it (waiting time)
    id: int | None = None

    def as_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "callback"}
        for key in ("reason", "priority", "status"):
            data[key] = data[key].value
        for key in ("created_at", "updated_at", "claimed_at"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        data["callback"] = (
            {
                "contact": self.callback.contact,
                "best_time": self.callback.best_time,
                "first_name": self.callback.first_name,
                "consented_at": self.callback.consented_at.isoformat(),
            }
            if self.callback
            else None
        )
        return data
