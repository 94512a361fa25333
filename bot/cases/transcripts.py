"""Conversation transcripts, content gaps and analytics for the adviser console.

**What it reads.** Rasa's SQL event broker writes every event of every conversation as one row of
the ``events`` table (``id``, ``sender_id``, ``data`` = the event's JSON; see ``events_table`` in
``bot.cases.watcher``), in the database ``SEN_EVENTS_DB_URL`` names (SQLite or PostgreSQL). The
rows are read in one query ordered by id and grouped by ``sender_id`` (the conversation id). The
parsed conversations are cached: a later call reads only the rows added since (checked with the
table's row count and highest id; anything else, such as rows deleted elsewhere, reloads all).
Parents' "Was this helpful?" answers and the hand-off cases come from the cases database
(``answer_feedback`` and ``handoff_cases``, through ``bot.cases.store.CaseStore``) when its URL is
given. Rows that are not JSON objects are skipped (and logged once); missing fields are tolerated.

**How turns are built.** A turn is one parent message (a ``user`` event) and everything up to the
next one: the bot's and advisers' messages (``bot`` events; an adviser's carries
``{"from": "adviser", "name": ...}`` in its metadata, or in ``data.custom``) and the ``route`` and
``kb_article`` slots the actions set after it (the last value set wins). A turn's text is what the
parent saw: ``metadata["display"]`` for a button's payload, otherwise the text. A new session
(``action_session_start``, ``session_started``, ``restart``) closes the turn, so the greeting and
the slots reset at a session's start belong to no turn. A message a parent sends while an adviser
has the chat runs no action, so its turn has no route. Each reply carries the message id the
widget gives it (``bot.channels.widget.message_id`` of the event's timestamp and text), which is
how the parent's feedback is joined to it.

**Content gaps** are parents' questions the bot could not answer from the knowledge base: turns
routed ``clarify`` (it did not understand, or had nothing to say) or ``escalate`` (beyond the
guidance, or after repeated misses). Small talk, safeguarding, button payloads (``/...``) and
control messages are left out: asking for a person or a call-back, and the call-back form's
answers ("yes", "no", "stop"), are escalations but not questions. Near-identical questions are
grouped: each is normalised (lowercase, apostrophes and punctuation removed, spaces collapsed)
and reduced to its content words (a stop list of function words and of words nearly every parent
uses, such as "son" or "school", removed; a light suffix stemmer makes "refuse", "refused" and
"refusal" one word). Questions are taken most frequent first; each joins the group whose first
question is most like it, when the Jaccard similarity of their word sets is at least 0.5, and
otherwise starts a group. An inverted index from words to groups keeps this fast
(about 2,000 questions in well under a second). Sentence embeddings (``bot.assistant.embeddings``)
would group paraphrases too, but take about 25 ms a question in NumPy, a minute for 2,000.
"""

from __future__ import annotations

import json
import logging
import math
import re
import statistics
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.assistant import replies
from bot.cases.db import events_engine, events_table
from bot.cases.store import CaseStore
from bot.contract import ROUTES, SAFEGUARDING_INTENT, Reason, clean_text, message_id

logger = logging.getLogger(__name__)

GAP_ROUTES = ("clarify", "escalate")
# Intents of messages that steer the conversation rather than ask about SEN Support.
CONTROL_INTENTS = frozenset({"request_human", "request_callback", "affirm", "deny", "stop"})
FEEDBACK_FILTERS = ("helpful", "unhelpful", "any", "none")
ADVISER = "adviser"
SESSION_STARTS = ("session_started", "restart")
GAP_SIMILARITY = 0.5
UNKNOWN_CHANNEL = "unknown"


@dataclass
class TranscriptTurn:
    """One parent message and what followed it."""

    index: int  # 0-based within the conversation
    timestamp: float
    text: str  # what the parent saw: metadata["display"] for a button's payload, else the text
    intent: str | None
    confidence: float | None
    route: str | None  # the ``route`` slot set after it
    article: str | None  # the ``kb_article`` slot set after it
    # {"from": "bot"|"adviser", "name", "text", "timestamp", "message_id", "article", "buttons",
    #  "helpful"}; an adviser's text without the "Name (adviser): " prefix.
    replies: list[dict] = field(default_factory=list)
    feedback: bool | None = None  # the parent's feedback on a reply of this turn (the last one)


@dataclass
class ConversationSummary:
    conversation_id: str
    started: float  # the first event's timestamp
    last: float  # the last event's timestamp
    channel: str  # input_channel of the first parent message
    turns: int
    routes: list[str]  # distinct routes, in order of first appearance
    articles: list[str]  # distinct articles, in order of first appearance
    helpful: int
    unhelpful: int
    escalated: bool  # a turn routed "escalate", or a hand-off case for it
    safeguarding: bool  # a turn routed or classified "safeguarding", or a safeguarding case


# --- reading events --------------------------------------------------------------------------
def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: object) -> dict:
    if isinstance(value, str):  # tolerate JSON inside JSON
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _buttons(data: dict) -> list[dict]:
    raw = data.get("buttons") or data.get("quick_replies") or []
    return [
        {"title": str(b["title"]), "payload": str(b["payload"])}
        for b in (raw if isinstance(raw, list) else [])
        if isinstance(b, dict) and b.get("title") and b.get("payload")
    ]


class _Conversation:
    """One conversation, built event by event (so new rows can be fed in later)."""

    def __init__(self, conversation_id: str) -> None:
        self.id = conversation_id
        self.first: float | None = None
        self.last: float | None = None
        self.channel: str | None = None
        self.turns: list[TranscriptTurn] = []
        self.payloads: list[bool] = []  # per turn: the parent's text was a button payload
        self.open = False  # the latest turn still takes replies and slots
        self.safeguarding_intent = False
        self._search: list[str] = []
        self._haystack: str | None = None

    def feed(self, event: dict) -> None:
        timestamp = _number(event.get("timestamp"))
        if timestamp is not None:
            self.first = timestamp if self.first is None else min(self.first, timestamp)
            self.last = timestamp if self.last is None else max(self.last, timestamp)
        kind = event.get("event")
        if kind == "user":
            self._user(event, timestamp)
        elif kind == "bot" and self.open:
            self._bot(event, timestamp)
        elif kind == "slot" and self.open:
            value = _text(event.get("value"))
            if event.get("name") == "route":
                self.turns[-1].route = value
            elif event.get("name") == "kb_article":
                self.turns[-1].article = value
        elif kind in SESSION_STARTS or (
            kind == "action" and event.get("name") == "action_session_start"
        ):
            self.open = False

    def _user(self, event: dict, timestamp: float | None) -> None:
        metadata = _dict(event.get("metadata"))
        raw = clean_text(str(event.get("text") or ""))
        display = metadata.get("display")
        display = clean_text(display) if isinstance(display, str) else None
        text = display.strip() if display and display.strip() else raw
        intent = _dict(_dict(event.get("parse_data")).get("intent"))
        name = _text(intent.get("name"))
        if self.channel is None:
            self.channel = _text(event.get("input_channel")) or UNKNOWN_CHANNEL
        self.turns.append(
            TranscriptTurn(
                index=len(self.turns),
                timestamp=timestamp if timestamp is not None else (self.last or 0.0),
                text=text,
                intent=name,
                confidence=_number(intent.get("confidence")),
                route=None,
                article=None,
            )
        )
        self.payloads.append(raw.startswith("/"))
        self.safeguarding_intent |= name == SAFEGUARDING_INTENT
        self.open = True
        self._searchable(text, raw)

    def _bot(self, event: dict, timestamp: float | None) -> None:
        data, metadata = _dict(event.get("data")), _dict(event.get("metadata"))
        custom = _dict(data.get("custom"))
        raw = clean_text(str(event.get("text") or ""))
        buttons = _buttons(data)
        if not raw and not buttons:
            return
        marking = next((m for m in (metadata, custom) if m.get("from") == ADVISER), None)
        name = _text(marking.get("name")) if marking else None
        text = raw
        prefix = replies.text("handoff.adviser_prefix", first_name=name) if name else ""
        if prefix and raw.startswith(prefix):
            text = raw[len(prefix) :]
        self.turns[-1].replies.append(
            {
                "from": ADVISER if marking else "bot",
                "name": name,
                "text": text,
                "timestamp": timestamp,
                # As the widget computes it: the event's timestamp as stored, its full text.
                "message_id": message_id(event.get("timestamp"), raw),
                "article": _text(metadata.get("article")) or _text(custom.get("article")),
                "buttons": buttons,
                "helpful": None,
            }
        )
        self._searchable(text)

    def _searchable(self, *texts: str) -> None:
        self._search.extend(t.casefold() for t in texts if t)
        self._haystack = None

    def haystack(self) -> str:
        if self._haystack is None:
            self._haystack = "\n".join(self._search)
        return self._haystack


# --- content gaps ----------------------------------------------------------------------------
STOP_WORDS = frozenset(
    """
    a about after again all also am an and any anything are as ask asked at be been before being
    but by can cant could did didnt do does doesnt doing dont for from get getting go going got
    had has have having he hed hes her here hers him his how i id if ill im in into is isnt it
    its ive just know let like me more most much my need needs no not now of off on one only or
    other our out over please really said say says she should so some someone something still
    such tell than thanks that thats the their them then there these they theyre this those to
    too up us very want wants was wasnt way we were what whats when where which while who why
    will with wont would you your youre yes hi hello
    son sons daughter daughters child childs children kid kids ds dd dc boy girl school year
    """.split()
)
_SUFFIXES = (
    ("ments", ""), ("ment", ""), ("ings", ""), ("ing", ""), ("ies", "y"), ("ied", "y"),
    ("sals", "s"), ("sal", "s"), ("ness", ""), ("ed", ""), ("es", ""), ("s", ""), ("e", ""),
)  # fmt: skip


def normalise_for_grouping(text: str) -> str:
    """Lowercase, apostrophes dropped, punctuation removed, runs of spaces collapsed."""
    text = text.casefold().replace("\u2019", "").replace("\u2018", "").replace("'", "")
    return re.sub(r"[\W_]+", " ", text).strip()


def _stem(word: str) -> str:
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)] + replacement
            if len(stem) < 3 or (suffix == "s" and stem[-1] in "siu"):
                return word
            return stem
    return word


def content_words(text: str) -> frozenset[str]:
    """The words of a question that say what it is about, stemmed."""
    words = normalise_for_grouping(text).split()
    return frozenset(_stem(w) for w in words if len(w) > 1 and w not in STOP_WORDS)


@dataclass
class _Question:
    """Every asking of one normalised question."""

    words: frozenset[str]
    texts: Counter = field(default_factory=Counter)
    routes: Counter = field(default_factory=Counter)
    conversations: dict[str, float] = field(default_factory=dict)  # id -> last asked
    last_seen: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.texts.values())


def group_questions(asked: Iterable[tuple[str, str, str, float]], limit: int = 50) -> list[dict]:
    """Groups of near-identical questions, most frequent first, from
    ``(text, route, conversation_id, timestamp)``; see the module's docstring."""
    questions: dict[str, _Question] = {}
    for text, route, conversation_id, timestamp in asked:
        key = normalise_for_grouping(text)
        if not key:
            continue
        question = questions.get(key)
        if question is None:
            question = questions[key] = _Question(content_words(text))
        question.texts[text.strip()] += 1
        question.routes[route] += 1
        seen = question.conversations.get(conversation_id, timestamp)
        question.conversations[conversation_id] = max(seen, timestamp)
        question.last_seen = max(question.last_seen, timestamp)
    # Most asked first, so each group is led (and compared through) by its most usual wording.
    order = sorted(questions.items(), key=lambda kv: (-kv[1].count, -kv[1].last_seen, kv[0]))
    # Prefix filtering: with each word set's words rarest first, two sets with a Jaccard
    # similarity of at least t share a word among the first n - ceil(t * n) + 1 of each. Only
    # those words are indexed and looked up, so common words ("ehcp") don't make every question
    # a candidate for every group.
    rarity = Counter(word for question in questions.values() for word in question.words)

    def prefix(words: frozenset[str]) -> list[str]:
        ranked = sorted(words, key=lambda word: (rarity[word], word))
        return ranked[: len(ranked) - math.ceil(GAP_SIMILARITY * len(ranked)) + 1]

    groups: list[list[_Question]] = []
    index: dict[str, list[int]] = {}  # word -> groups with it in their first question's prefix
    for _, question in order:
        words = question.words
        candidates = {number for word in prefix(words) for number in index.get(word, ())}
        best, best_score = None, 0.0
        for number in sorted(candidates):
            lead = groups[number][0].words
            shared = len(words & lead)
            score = shared / (len(words) + len(lead) - shared)
            if score >= GAP_SIMILARITY and score > best_score:
                best, best_score = number, score
        if best is None:
            for word in prefix(words):
                index.setdefault(word, []).append(len(groups))
            groups.append([question])
        else:
            groups[best].append(question)
    gaps = sorted((_gap(group) for group in groups), key=lambda g: (-g["count"], -g["last_seen"]))
    return gaps[: max(0, limit)]


def _gap(group: list[_Question]) -> dict:
    texts: Counter = Counter()
    routes: Counter = Counter()
    conversations: dict[str, float] = {}
    for question in group:
        texts.update(question.texts)
        routes.update(question.routes)
        for conversation_id, seen in question.conversations.items():
            conversations[conversation_id] = max(seen, conversations.get(conversation_id, seen))
    ranked = [text for text, _ in sorted(texts.items(), key=lambda kv: (-kv[1], kv[0]))]
    recent = sorted(conversations, key=lambda c: -conversations[c])
    return {
        "example": ranked[0],
        "count": sum(texts.values()),
        "routes": {route: routes.get(route, 0) for route in GAP_ROUTES},
        "questions": ranked[:5],
        "last_seen": max(q.last_seen for q in group),
        "conversation_ids": recent[:5],
    }


# --- the store -------------------------------------------------------------------------------
def _timestamp(value: object) -> float | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:  # stored in UTC; SQLite hands back naive datetimes
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _wait_minutes(waits: Iterable[tuple[datetime, datetime]], since: float | None) -> list[float]:
    minutes = []
    for pair in waits or ():
        try:
            created, claimed = (_timestamp(moment) for moment in pair)
        except (TypeError, ValueError):
            continue
        if created is None or claimed is None or claimed < created:
            continue
        if since is None or created >= since:
            minutes.append((claimed - created) / 60)
    return minutes


def _percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class TranscriptStore:
    """Conversations as advisers review them, read from the event broker's database."""

    def __init__(
        self,
        events_db_url: str,
        cases_db_url: str | None = None,
        timezone_name: str = "Europe/London",
    ) -> None:
        self.engine = events_engine(events_db_url)
        self.cases_store = CaseStore(cases_db_url) if cases_db_url else None
        self.zone = ZoneInfo(timezone_name)  # the days of ``analytics()["per_day"]``
        self._lock = threading.RLock()
        self._conversations: dict[str, _Conversation] = {}
        self._stamp: tuple[int, int] = (0, 0)  # (row count, highest id) the cache reflects
        self._logged: set[int] = set()

    @classmethod
    def from_settings(cls) -> TranscriptStore:
        from bot.settings import load_settings

        settings = load_settings()
        return cls(settings.events_db_url, settings.handoff_db_url)

    # --- loading -----------------------------------------------------------------------------
    def _refresh(self) -> dict[str, _Conversation]:
        """Every conversation, parsed; reads only the rows added since the last call."""
        with self._lock, self.engine.connect() as db:
            count, top = db.execute(
                sa.select(sa.func.count(events_table.c.id), sa.func.max(events_table.c.id))
            ).one()
            count, top = int(count or 0), int(top or 0)
            if (count, top) == self._stamp:
                return self._conversations
            old_count, old_top = self._stamp
            read, new = self._rows(db, old_top, top) if top >= old_top else (-1, [])
            if old_count + read != count:
                # Rows were deleted, or committed late below the highest id: read everything.
                self._conversations = {}
                read, new = self._rows(db, 0, top)
            for sender_id, event in new:
                conversation = self._conversations.get(sender_id)
                if conversation is None:
                    conversation = self._conversations[sender_id] = _Conversation(sender_id)
                conversation.feed(event)
            self._stamp = (count, top)
            return self._conversations

    def _rows(
        self, db: sa.engine.Connection, after: int, upto: int
    ) -> tuple[int, list[tuple[str, dict]]]:
        """How many rows have ids in (after, upto], and their (sender_id, event) in id order,
        without the rows that are not JSON objects or have no sender."""
        query = (
            sa.select(events_table.c.id, events_table.c.sender_id, events_table.c.data)
            .where(events_table.c.id > after, events_table.c.id <= upto)
            .order_by(events_table.c.id)
            .execution_options(stream_results=True)
        )
        rows: list[tuple[str, dict]] = []
        read = 0
        for row_id, sender_id, data in db.execute(query):
            read += 1
            event = None
            try:
                event = json.loads(data) if data else None
            except (TypeError, ValueError):
                pass
            if isinstance(event, dict) and isinstance(sender_id, str) and sender_id:
                rows.append((sender_id, event))
            elif row_id not in self._logged:
                self._logged.add(row_id)
                logger.warning("Skipping events row %s: not a JSON event with a sender.", row_id)
        return read, rows

    def _with_messages(self) -> list[_Conversation]:
        return [c for c in self._refresh().values() if c.turns]

    def _feedback(self) -> dict[str, dict[str, tuple[bool, float | None]]]:
        """Conversation -> message id -> (helpful, when)."""
        found: dict[str, dict[str, tuple[bool, float | None]]] = {}
        if self.cases_store is not None:
            for row in self.cases_store.feedback():
                by_message = found.setdefault(row["conversation_id"], {})
                by_message[row["message_id"]] = (
                    bool(row["helpful"]),
                    _timestamp(row["created_at"]),
                )
        return found

    def _cases(self) -> dict[str, set[str]]:
        """Conversation -> the reasons of its hand-off cases."""
        found: dict[str, set[str]] = {}
        if self.cases_store is not None:
            for case in self.cases_store.cases():
                found.setdefault(case.conversation_id, set()).add(case.reason.value)
        return found

    def _summary(
        self,
        conversation: _Conversation,
        feedback: dict[str, tuple[bool, float | None]],
        case_reasons: set[str],
    ) -> ConversationSummary:
        routes = list(dict.fromkeys(t.route for t in conversation.turns if t.route))
        articles = list(dict.fromkeys(t.article for t in conversation.turns if t.article))
        verdicts = [helpful for helpful, _ in feedback.values()]
        return ConversationSummary(
            conversation_id=conversation.id,
            started=conversation.first if conversation.first is not None else 0.0,
            last=conversation.last if conversation.last is not None else 0.0,
            channel=conversation.channel or UNKNOWN_CHANNEL,
            turns=len(conversation.turns),
            routes=routes,
            articles=articles,
            helpful=verdicts.count(True),
            unhelpful=verdicts.count(False),
            escalated="escalate" in routes or bool(case_reasons),
            safeguarding="safeguarding" in routes
            or conversation.safeguarding_intent
            or Reason.SAFEGUARDING.value in case_reasons,
        )

    # --- the console's calls -----------------------------------------------------------------
    def conversations(
        self,
        *,
        query: str | None = None,
        channel: str | None = None,
        route: str | None = None,
        article: str | None = None,
        feedback: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 200,
    ) -> list[ConversationSummary]:
        """Conversations with at least one parent message, most recently active first.

        ``query``: a case-insensitive substring of the parent's, bot's or adviser's messages.
        ``feedback``: "helpful" / "unhelpful" (at least one such answer), "any", "none".
        ``since``/``until``: active in that window (last event at or after ``since``, first
        event at or before ``until``)."""
        if feedback is not None and feedback not in FEEDBACK_FILTERS:
            raise ValueError(f"feedback must be one of {', '.join(FEEDBACK_FILTERS)}")
        needle = query.casefold().strip() if query else ""
        all_feedback, cases = self._feedback(), self._cases()
        found = []
        with self._lock:
            for conversation in self._with_messages():
                if needle and needle not in conversation.haystack():
                    continue
                summary = self._summary(
                    conversation,
                    all_feedback.get(conversation.id, {}),
                    cases.get(conversation.id, set()),
                )
                if channel is not None and summary.channel != channel:
                    continue
                if route is not None and route not in summary.routes:
                    continue
                if article is not None and article not in summary.articles:
                    continue
                if since is not None and summary.last < since:
                    continue
                if until is not None and summary.started > until:
                    continue
                rated = summary.helpful + summary.unhelpful
                if (
                    (feedback == "helpful" and not summary.helpful)
                    or (feedback == "unhelpful" and not summary.unhelpful)
                    or (feedback == "any" and not rated)
                    or (feedback == "none" and rated)
                ):
                    continue
                found.append(summary)
        found.sort(key=lambda s: (s.last, s.conversation_id), reverse=True)
        return found[: max(0, limit)]

    def conversation(
        self, conversation_id: str
    ) -> tuple[ConversationSummary, list[TranscriptTurn]] | None:
        """The conversation's summary and turns (copies: change them freely), or None when
        there is no such conversation or the parent never wrote in it."""
        feedback = self._feedback().get(conversation_id, {})
        with self._lock:
            found = self._refresh().get(conversation_id)
            if found is None or not found.turns:
                return None
            summary = self._summary(found, feedback, self._cases().get(conversation_id, set()))
            turns = []
            for turn in found.turns:
                replies = []
                for reply in turn.replies:
                    verdict = feedback.get(reply["message_id"])
                    helpful = verdict[0] if verdict else None
                    replies.append({**reply, "buttons": list(reply["buttons"]), "helpful": helpful})
                rated = [r["helpful"] for r in replies if r["helpful"] is not None]
                turns.append(replace(turn, replies=replies, feedback=rated[-1] if rated else None))
        return summary, turns

    def content_gaps(self, since: float | None = None, limit: int = 50) -> list[dict]:
        """Groups of questions the bot could not answer, most frequent first:
        ``{"example", "count", "routes": {"clarify", "escalate"}, "questions" (up to 5),
        "last_seen", "conversation_ids" (up to 5, most recent first)}``."""
        with self._lock:
            asked = [
                (turn.text, turn.route, conversation.id, turn.timestamp)
                for conversation in self._with_messages()
                for turn, payload in zip(conversation.turns, conversation.payloads, strict=True)
                if turn.route in GAP_ROUTES
                and turn.intent not in CONTROL_INTENTS
                and not payload
                and not turn.text.startswith("/")
                and (since is None or turn.timestamp >= since)
            ]
        return group_questions(asked, limit)

    def analytics(
        self, since: float | None = None, waits: Iterable[tuple[datetime, datetime]] = ()
    ) -> dict:
        """Numbers for the console's dashboard.

        ``per_day``: conversations by the local day they started (``since`` on: started at or
        after it), days without any included. ``routes``, ``route_shares`` (of all parent
        turns, so turns without a route, e.g. while an adviser had the chat, count in the
        whole) and ``top_articles``: parent turns at or after ``since``. ``feedback``: answers
        given at or after ``since``. ``waits``: ``(created_at, claimed_at)`` of hand-off cases
        created at or after ``since``, in minutes (median; 90th percentile by nearest rank)."""
        all_feedback = self._feedback()
        days: Counter = Counter()
        routes: Counter = Counter({route: 0 for route in ROUTES})
        articles: Counter = Counter()
        turns = 0
        known: set[str] = set()
        with self._lock:
            for conversation in self._with_messages():
                known.add(conversation.id)
                started = conversation.first
                if started is not None and (since is None or started >= since):
                    days[datetime.fromtimestamp(started, self.zone).date()] += 1
                for turn in conversation.turns:
                    if since is not None and turn.timestamp < since:
                        continue
                    turns += 1
                    if turn.route:
                        routes[turn.route] += 1
                    if turn.article:
                        articles[turn.article] += 1
        verdicts = Counter(
            helpful
            for conversation_id, by_message in all_feedback.items()
            if conversation_id in known
            for helpful, when in by_message.values()
            if since is None or (when is not None and when >= since)
        )
        minutes = _wait_minutes(waits, since)
        return {
            "per_day": _every_day(days),
            "routes": dict(routes),
            "route_shares": {r: (round(n / turns, 4) if turns else 0.0) for r, n in routes.items()},
            "top_articles": sorted(articles.items(), key=lambda kv: (-kv[1], kv[0]))[:10],
            "feedback": {"helpful": verdicts[True], "unhelpful": verdicts[False]},
            "waits": {
                "count": len(minutes),
                "median_minutes": round(statistics.median(minutes), 2) if minutes else None,
                "p90_minutes": round(_percentile(minutes, 0.9), 2) if minutes else None,
            },
        }

    # --- retention ---------------------------------------------------------------------------
    def delete_conversation(self, conversation_id: str) -> int:
        """Delete the conversation's rows from the events table; returns how many. (Rasa's
        tracker store, the cases and the feedback are the caller's to delete.)"""
        mine = events_table.c.sender_id == conversation_id
        with self._lock:
            count, top = self._stamp
            with self.engine.begin() as db:
                # Rows the cache has read; any newer ones are found by the next refresh.
                cached = db.execute(
                    sa.select(sa.func.count(events_table.c.id)).where(
                        mine, events_table.c.id <= top
                    )
                ).scalar_one()
                deleted = db.execute(events_table.delete().where(mine)).rowcount
            self._conversations.pop(conversation_id, None)
            self._stamp = (count - cached, top)
            return deleted

    def conversations_last_active_before(self, cutoff: float) -> list[str]:
        """Ids of conversations (with or without a parent message) whose last event is before
        ``cutoff``, oldest first. Conversations without any timestamp are never listed."""
        with self._lock:
            old = [
                (c.last, c.id)
                for c in self._refresh().values()
                if c.id and c.last is not None and c.last < cutoff
            ]
        return [conversation_id for _, conversation_id in sorted(old)]


def _every_day(days: Counter) -> list[tuple[str, int]]:
    if not days:
        return []
    first, last = min(days), max(days)
    span: list[date] = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [(day.isoformat(), days.get(day, 0)) for day in span]
