"""What the assistant says to a message, decided from the NLU result: the logic behind the actions.

``Responder.respond`` returns a ``Reply`` (messages with buttons, the route taken, the article used
and any escalation to open). The rasa_sdk actions are thin adapters around it, so the same logic
serves the tests, the command line and, later, the adviser console.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from bot.assistant import replies
from bot.assistant.knowledge import BEYOND_PREFIX, Article, KnowledgeBase
from bot.assistant.retrieval import KnowledgeRetriever
from bot.assistant.safeguarding import SAFEGUARDING_REPLY, is_at_risk
from bot.assistant.understanding import (
    MAX_PARTS,
    child_stage,
    correction,
    follow_up_kind,
    leans_on_context,
)
from bot.assistant.vocabulary import ENTITY_LABEL, article_for_entity
from bot.contract import (
    BEYOND_KEY,
    MORE_ENTITY,
    REQUEST_HUMAN_INTENT,
    ROUTE_ESCALATE,
    Case,
    Priority,
    Reason,
    article_for_intent,
    more_payload,
)
from bot.settings import Settings, load_settings

ADVISER_BUTTON = replies.button("adviser", f"/{REQUEST_HUMAN_INTENT}")
CALLBACK_BUTTON = replies.button("callback", "/request_callback")
LEAVE_QUEUE_BUTTON = replies.button("leave_queue", "/stop")
NO_THANKS_BUTTON = replies.button("no_thanks", "/deny")
# The buttons the responder offers whatever the topic (an article's own is ``_topic_button``).
FIXED_BUTTONS = (ADVISER_BUTTON, CALLBACK_BUTTON, LEAVE_QUEUE_BUTTON, NO_THANKS_BUTTON)
FALLBACK_INTENT = "nlu_fallback"
SMALLTALK_INTENTS = {"greet", "goodbye", "thanks", "bot_challenge", "affirm", "deny", "stop"}
MISSES_BEFORE_ADVISER_FIRST = 2
# The beyond-guidance topics' share of the classifier's belief that sends a question to an
# adviser, and the least confidence that answers from the likeliest article (dev split).
BEYOND_SHARE = 0.45
ANSWER_MIN = 0.2
# With the NLU's yes/no beyond-the-guidance model (parse data ``beyond``), a message at least this
# likely to be beyond the guidance goes to an adviser (dev split; the share above is the rule for a
# model trained without it).
BEYOND_LIKELY = 0.4
# ... when the intent model leans that way too (the beyond-guidance topics hold at least this share
# of its belief): on its own the yes/no model escalated plain in-guidance questions that name
# "1:1", "council" or "EHC plan" (held-out set, 2026-12-06) ...
BEYOND_AGREE = 0.2
# ... and when the articles and beyond-guidance topics together hold at least this much of the
# intent model's belief (the rest is small talk, hand-off requests and out of scope).
ABOUT_SEN = 0.5
# A part of a longer message counts as a topic of its own from this confidence (dev split).
PART_THRESHOLD = 0.2
# A long message's background often carries a second need the question itself doesn't name ("the
# senco says an EHCP brings no money... is this correct?"): a second topic of the whole message's
# ranking is answered too when the message is at least this long and the topic holds this much of
# the belief, and at least this share of the first topic's (dev split).
SECOND_TOPIC_WORDS = 30
SECOND_TOPIC_MIN = 0.15
SECOND_TOPIC_RATIO = 0.3
# A follow-up the classifier is this sure of is a new question, whatever came before.
CONTEXT_OVERRIDE = 0.85
# How sure the classifier must be of a candidate near the last topic to prefer it.
NEAR_CONTEXT = 0.1
# A follow-up leaning on the last answer, when the classifier's best candidate is below this, is
# about the last topic itself (dev split).
SAME_TOPIC = 0.3
SHORT_ANSWER_WORDS = 8  # a reply to a clarify up to this long picks among the topics offered
OFFERED_MATCH = 0.35  # similarity to an offered topic that counts as picking it
PICK_OTHER = 0.5  # a short reply to a clarify this clearly about another topic is about that

# Why each beyond-guidance topic needs a person, in a parent's words (knowledge/replies.yml).
BEYOND_GUIDANCE_TOPICS: dict[str, str] = replies.topics()


def introduction(settings: Settings) -> str:
    """The first message of a conversation, with the real hours advisers are online."""
    return replies.text("introduction.welcome", hours=settings.opening_hours.describe())


# The introduction with this process's settings (the action server's own uses its Responder's).
INTRODUCTION = introduction(load_settings())
POSSIBLE_LINE = replies.text("safeguarding.possible_line")

SMALLTALK_REPLIES = {intent: replies.text(f"smalltalk.{intent}") for intent in SMALLTALK_INTENTS}


@dataclass
class Message:
    text: str
    buttons: list[dict] = field(default_factory=list)


@dataclass
class Reply:
    route: str  # answer / clarify / escalate / safeguarding / smalltalk
    messages: list[Message]
    article: str | None = None
    misses: int = 0
    case: Case | None = None
    pause: bool = False  # hand the conversation to an adviser: the bot stays silent
    articles: list[str] = field(default_factory=list)  # every article answered, main first
    escalated: list[str] = field(default_factory=list)  # beyond-guidance topics handed over
    offered: list[str] = field(default_factory=list)  # the articles a clarify offered
    stage: str | None = None  # the child's stage, as far as the parent has said
    safety_note: bool = False  # a possible risk: the short safety line was added

    def __post_init__(self) -> None:
        if self.article and not self.articles:
            self.articles = [self.article]


@dataclass
class Turn:
    """What the assistant knows about the parent's latest message."""

    text: str
    intent: str | None
    confidence: float
    ranking: list[dict] = field(default_factory=list)
    entities: list[dict] = field(default_factory=list)
    conversation_id: str = "unknown"
    channel: str = "unknown"
    misses: int = 0
    recent: list[str] = field(default_factory=list)  # the parent's last few messages
    parts: list[dict] = field(default_factory=list)  # each question of a longer message
    last_articles: list[str] = field(default_factory=list)  # answered on the last bot turn
    offered: list[str] = field(default_factory=list)  # offered by the last clarify
    stage: str | None = None  # the child's stage from earlier turns
    possible_risk: bool = False  # the NLU found a possible (not a clear) risk
    in_callback_form: bool = False  # the parent is part-way through asking for a call-back
    beyond: float | None = None  # how likely the message is beyond the guidance (the NLU's)
    last_route: str | None = None  # the route of the last bot turn (the ``route`` slot)


def _topic_button(article: Article) -> dict:
    return {"title": article.title, "payload": f"/{article.intent}"}


def _more_button(article: Article) -> dict:
    return replies.button("more", more_payload(article.id))


def looks_like_english(text: str) -> bool:
    """A rough test: enough Latin letters and at least one common English word."""
    letters = re.findall(r"[^\W\d_]", text)
    if not letters:
        return False
    latin = sum(1 for ch in letters if ch.isascii())
    if latin / len(letters) < 0.7:
        return False
    words = set(re.findall(r"[a-z']+", text.lower()))
    common = {
        "i",
        "my",
        "is",
        "the",
        "a",
        "what",
        "how",
        "can",
        "do",
        "does",
        "he",
        "she",
        "it",
        "to",
        "of",
        "and",
        "in",
        "school",
        "son",
        "daughter",
        "child",
        "help",
        "who",
        "why",
        "when",
        "we",
        "you",
        "they",
        "his",
        "her",
        "not",
        "no",
        "yes",
        "senco",
        "sen",
        "ehcp",
        "support",
        "hi",
        "hello",
        "thanks",
        "an",
        "on",
        "for",
        "with",
        "me",
        "are",
        "be",
        "ok",
        "okay",
        "bye",
        "about",
        "if",
        "need",
        "needs",
        "there",
        "ta",
        "ep",
        "salt",
        "ot",
        "la",
        "hiya",
        "cheers",
        "yep",
        "nah",
        "send",
        "sendco",
        "dd",
        "ds",
        "pls",
        "please",
    }
    return bool(words & common)


class Cases(Protocol):
    """What the responder needs of the case store (bot.cases.store.CaseStore), so this layer
    holds no SQL."""

    def open_case(self, case: Case) -> Case: ...

    def people_ahead(self, case: Case) -> int: ...

    def set_paused(self, case_id: int, paused: bool) -> None: ...

    def available_advisers(self) -> list: ...


class Responder:
    def __init__(
        self,
        kb: KnowledgeBase,
        retriever: KnowledgeRetriever,
        cases: Cases,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.kb = kb
        self.retriever = retriever
        self.cases = cases
        self.settings = settings
        self.clock = clock

    # --- routes -------------------------------------------------------------------------
    def respond(self, turn: Turn) -> Reply:
        turn.stage = child_stage(turn.text) or turn.stage
        reply = self._route(turn)
        reply.stage = turn.stage
        if turn.possible_risk and reply.route != "safeguarding":
            # Answered as usual; one short, kind line after it, with the adviser.
            reply.messages.append(Message(POSSIBLE_LINE, [ADVISER_BUTTON]))
            reply.safety_note = True
        return reply

    def _route(self, turn: Turn) -> Reply:
        if is_at_risk(turn.text, turn.intent):
            return self.safeguarding(turn)
        if turn.intent == "request_human":
            # After the bot failed twice in a row, the case says so: the adviser should know
            # the parent was not helped, not just that they asked.
            missed = turn.misses >= MISSES_BEFORE_ADVISER_FIRST
            return self.escalate(turn, Reason.REPEATED_MISSES if missed else Reason.PARENT_ASKED)
        pressed = self.more_pressed(turn)
        if pressed is not None:
            return self.more(pressed, turn)
        in_context = self.in_context(turn)
        if in_context is not None:
            return in_context
        if turn.intent in SMALLTALK_INTENTS:
            return self.smalltalk(turn)
        several = self.several(turn)
        if several is not None:
            return several
        decided = self.decide(turn)
        if decided is not None:
            return decided
        return self.fallback(turn)

    def decide(self, turn: Turn) -> Reply | None:
        """Answer, escalate, or leave it to ``fallback``, from the classifier's whole ranking.

        When the beyond-guidance topics together hold enough of the classifier's belief, the
        question goes to an adviser even if one article is the single likeliest intent: a
        beyond-guidance question answered with an article that does not answer it is worse than
        an honest hand-off. Thresholds chosen on the dev split of real questions
        (docs/measurements.md).
        """
        ranking = turn.ranking or (
            [{"name": turn.intent, "confidence": turn.confidence}] if turn.intent else []
        )
        topic = self.topic_of(ranking, ANSWER_MIN, turn.beyond)
        if topic in BEYOND_GUIDANCE_TOPICS:
            return self.escalate(turn, Reason.BEYOND_GUIDANCE, topic=topic)
        article = self.kb.article_for_intent(topic)
        if article is not None:
            return self.answer(self.refine(article, turn.entities), turn)
        return None

    # --- the conversation so far ----------------------------------------------------------
    def _confident(self, turn: Turn) -> bool:
        return turn.intent not in (None, FALLBACK_INTENT) and turn.confidence >= CONTEXT_OVERRIDE

    def in_context(self, turn: Turn) -> Reply | None:
        """A message that only makes sense after the last turn: a short answer to a clarify,
        "tell me more", "how do I get one?", "what if they say no?", or a correction."""
        words = turn.text.split()
        if turn.offered and len(words) <= SHORT_ANSWER_WORDS:
            picked = self.pick_offered(turn)
            if picked is not None:
                return self.answer(picked, turn)
        last = [self.kb.articles[a] for a in turn.last_articles if a in self.kb.articles]
        if not last:
            return None
        main = last[0]
        fixed = correction(turn.text)
        if fixed is not None and child_stage(fixed) and not self._confident(turn):
            # "sorry, I meant she's 17": the same question, for a different stage.
            return self.answer(main, turn)
        if fixed is not None:
            # "sorry, I meant the assessment bit": the closest topic to what they meant, among
            # the classifier's candidates and the topics next to the one just answered.
            candidates = {article_for_intent(str(r.get("name"))) for r in turn.ranking[:5]}
            candidates |= set(main.related) | set(main.follow_ups.values())
            candidates = {c for c in candidates if c in self.kb.articles and c != main.id}
            best = self.retriever.find_among(fixed, sorted(candidates))
            if best is not None and best.score >= OFFERED_MATCH:
                return self.answer(best.article, turn)
            return None  # the corrected question stands on its own
        kind = follow_up_kind(turn.text)
        if kind == "more" and not self._confident(turn):
            return self.more(main, turn)
        if kind and kind != "more" and (leans_on_context(turn.text) or not self._confident(turn)):
            target = main.follow_ups.get(kind)
            if target and target.startswith(BEYOND_PREFIX):
                topic = target[len(BEYOND_PREFIX) :]
                if topic in BEYOND_GUIDANCE_TOPICS:
                    return self.escalate(turn, Reason.BEYOND_GUIDANCE, topic=topic)
            elif target in self.kb.articles:
                return self.answer(self.kb.articles[target], turn)
        if leans_on_context(turn.text) and not self._confident(turn):
            near = {main.id, *main.related, *main.follow_ups.values()}
            for candidate in turn.ranking[:5]:
                name = str(candidate.get("name"))
                if name in BEYOND_GUIDANCE_TOPICS and candidate is turn.ranking[0]:
                    return None  # moving beyond the guidance: the usual route escalates
                article_id = article_for_intent(name)
                if (
                    article_id in near
                    and article_id in self.kb.articles
                    and float(candidate.get("confidence", 0)) >= NEAR_CONTEXT
                ):
                    return self.answer(self.kb.articles[article_id], turn)
            if self._unsure(turn):
                # "can I do that myself?": nothing else fits, so it is about the last topic.
                return self.answer(main, turn)
        return None

    def _unsure(self, turn: Turn) -> bool:
        """The classifier has no real candidate of its own for this message (``SAME_TOPIC``)."""
        top = next((r for r in turn.ranking if r.get("name") != FALLBACK_INTENT), None)
        return top is None or float(top.get("confidence", 0)) < SAME_TOPIC

    def pick_offered(self, turn: Turn) -> Article | None:
        """A short reply to a clarify ("the senco one", "his reading") picks among the topics
        it offered: the classifier's choice if it is one of them, else the closest by meaning."""
        offered = [a for a in turn.offered if a in self.kb.articles]
        top = turn.ranking[0] if turn.ranking else {}
        chosen = article_for_intent(str(top.get("name")))
        if chosen not in offered and float(top.get("confidence", 0)) >= PICK_OTHER:
            return None  # a clear question of its own ("the senco bit" when SENCO wasn't offered)
        for candidate in turn.ranking[:3]:
            article_id = article_for_intent(str(candidate.get("name")))
            if article_id in offered and float(candidate.get("confidence", 0)) >= NEAR_CONTEXT:
                return self.kb.articles[article_id]
        if not offered:
            return None
        best = self.retriever.find_among(turn.text, offered)
        if best and best.score >= OFFERED_MATCH:
            return best.article
        return None

    def more_pressed(self, turn: Turn) -> Article | None:
        """The article whose "Tell me more" button the parent pressed, if they did."""
        if not any(e.get("entity") == MORE_ENTITY for e in turn.entities):
            return None
        return self.kb.article_for_intent(turn.intent)

    def more(self, article: Article, turn: Turn) -> Reply:
        """ "Tell me more": the article's detail if it has one, then the topics next to it."""
        related = [self.kb.articles[r] for r in article.related[:3] if r in self.kb.articles]
        buttons = [_topic_button(a) for a in related] + [ADVISER_BUTTON]
        if article.detail:
            text = f"{article.detail}\n\n{self.kb.source_line(article)}"
        else:
            text = replies.text("answer.no_more", title=article.title)
        return Reply("answer", [Message(text, buttons)], article=article.id, misses=0)

    # --- several questions at once -------------------------------------------------------
    def topic_of(
        self, ranking: list[dict], least: float, beyond_likely: float | None = None
    ) -> str | None:
        """The topic a ranking points to: a beyond-guidance topic when the message is likely
        beyond the guidance (the NLU's yes/no model at ``BEYOND_LIKELY``; without it, those
        topics together holding ``BEYOND_SHARE`` of the belief) or one leads the ranking; else
        the likeliest article if it has at least ``least`` confidence; else None."""
        ranking = [r for r in ranking if r.get("name") not in (FALLBACK_INTENT, None)]
        if not ranking:
            return None
        beyond = [r for r in ranking if r.get("name") in BEYOND_GUIDANCE_TOPICS]
        share = sum(float(r.get("confidence", 0)) for r in beyond)
        if beyond_likely is None:
            likely = share >= BEYOND_SHARE
        else:
            # The yes/no model only knows articles from beyond-guidance topics: it speaks for a
            # message the intent model reads as about SEN at all, not for "hiya" or nonsense.
            about_sen = share + sum(
                float(r.get("confidence", 0))
                for r in ranking
                if self.kb.article_for_intent(str(r.get("name")))
            )
            likely = share >= BEYOND_SHARE or (
                beyond_likely >= BEYOND_LIKELY and share >= BEYOND_AGREE and about_sen >= ABOUT_SEN
            )
        if beyond and (ranking[0] is beyond[0] or likely):
            return str(beyond[0]["name"])
        top = ranking[0]
        if (
            self.kb.article_for_intent(str(top.get("name")))
            and float(top.get("confidence", 0)) >= least
        ):
            return str(top["name"])
        return None

    def part_topics(self, turn: Turn) -> list[str]:
        """The distinct topics a message asks about: the whole message's first, then each asking
        part's (read beside the whole message), up to three."""
        whole = self.topic_of(turn.ranking, ANSWER_MIN, turn.beyond)
        topics = [whole] if whole else []
        second = self.second_topic(turn, whole)
        if second:
            topics.append(second)
        for part in turn.parts:
            likely = part.get(BEYOND_KEY)
            topic = self.topic_of(
                list(part.get("ranking") or []),
                PART_THRESHOLD,
                float(likely) if isinstance(likely, (int, float)) else None,
            )
            if topic and topic not in topics:
                topics.append(topic)
        return topics[:MAX_PARTS]

    def second_topic(self, turn: Turn, first: str | None) -> str | None:
        """A long message's second topic from the whole message's ranking, if it holds enough
        belief on its own and beside the first (``SECOND_TOPIC_*``)."""
        if not first or len(turn.text.split()) < SECOND_TOPIC_WORDS:
            return None
        ranking = [r for r in turn.ranking if r.get("name") not in (FALLBACK_INTENT, None)]
        lead = next((float(r.get("confidence", 0)) for r in ranking if r.get("name") == first), 0)
        for entry in ranking[:4]:
            name = str(entry.get("name"))
            if name == first:
                continue
            if name not in BEYOND_GUIDANCE_TOPICS and not self.kb.article_for_intent(name):
                continue
            confidence = float(entry.get("confidence", 0))
            if confidence >= SECOND_TOPIC_MIN and confidence >= SECOND_TOPIC_RATIO * lead:
                return name
            return None
        return None

    def several(self, turn: Turn) -> Reply | None:
        topics = self.part_topics(turn)
        if len(topics) < 2:
            return None
        articles = [
            self.refine(self.kb.article_for_intent(t), turn.entities)
            for t in topics
            if self.kb.article_for_intent(t)
        ]
        beyond = [t for t in topics if t in BEYOND_GUIDANCE_TOPICS]
        if not articles:
            return self.escalate(turn, Reason.BEYOND_GUIDANCE, topic=beyond[0], topics=beyond)
        pieces = [replies.text("answer.several")]
        for topic in topics:
            article = self.kb.article_for_intent(topic)
            if article is not None:
                article = self.refine(article, turn.entities)
                pieces.append(
                    replies.text(
                        "answer.part",
                        title=article.title,
                        summary=self.with_stage(article, article.summary, turn),
                        source=self.kb.source_line(article),
                    )
                )
            else:
                pieces.append(
                    replies.text("answer.part_beyond", topic=BEYOND_GUIDANCE_TOPICS[topic])
                )
        seen = {a.id for a in articles}
        buttons = []
        for article in articles:
            for related in article.related:
                if related not in seen and related in self.kb.articles and len(buttons) < 3:
                    seen.add(related)
                    buttons.append(_topic_button(self.kb.articles[related]))
        ids = [a.id for a in articles]
        if not beyond:
            message = Message("\n\n".join(pieces), [*buttons, ADVISER_BUTTON])
            return Reply("answer", [message], article=ids[0], articles=ids)
        handed = self.escalate(turn, Reason.BEYOND_GUIDANCE, topic=beyond[0], topics=beyond)
        return Reply(
            "answer",
            [Message("\n\n".join(pieces), buttons), *handed.messages],
            article=ids[0],
            articles=ids,
            escalated=beyond,
            case=handed.case,
            pause=handed.pause,
        )

    def with_stage(self, article: Article, text: str, turn: Turn) -> str:
        """Where the guidance says something for the child's stage (a young person of 16 or
        over should be involved directly), that comes first; it is not repeated further down."""
        note = article.stage_notes.get(turn.stage or "")
        if not note:
            return text
        rest = re.sub(r"[ \t]*\n[ \t]*\n+", "\n\n", text.replace(note, "")).strip()
        rest = re.sub(r"[ \t]{2,}", " ", rest)
        return f"{note}\n{rest}"

    def answer(self, article: Article, turn: Turn) -> Reply:
        related = [self.kb.articles[r] for r in article.related[:3] if r in self.kb.articles]
        buttons = [_topic_button(a) for a in related] + [ADVISER_BUTTON]
        if article.detail:
            buttons.insert(0, _more_button(article))
        body = self.with_stage(article, article.answer, turn)
        contact = self.kb.contact_lines(article, self.settings.opening_hours.describe())
        text = "\n\n".join(p for p in (body, contact, self.kb.source_line(article)) if p)
        return Reply("answer", [Message(text, buttons)], article=article.id, misses=0)

    def refine(self, article: Article, entities: list[dict]) -> Article:
        """A named specialist narrows the general specialists article to that specialist's."""
        if article.id != "involving-specialists":
            return article
        for entity in entities:
            if entity.get("entity") == ENTITY_LABEL:
                target = article_for_entity(str(entity.get("value", "")))
                if target and target in self.kb.articles:
                    return self.kb.articles[target]
        return article

    def fallback(self, turn: Turn) -> Reply:
        """NLU was unsure (or the message was off topic): retrieve, else clarify."""
        text = turn.text.strip()
        if not re.search(r"[^\W_]", text):
            return self.clarify(turn, [], replies.text("clarify.no_text"))
        if not looks_like_english(text):
            return self.clarify(turn, [], replies.text("clarify.not_english"))
        matches = self.retriever.find(text, limit=3)
        best = matches[0] if matches else None
        second_intent = next(
            (r for r in turn.ranking if r.get("name") not in (FALLBACK_INTENT, None)), None
        )
        if best and turn.intent != "out_of_scope":
            if best.score >= self.settings.answer_threshold:
                return self.answer(best.article, turn)
            # A weaker retrieval match still answers when the classifier's best guess agrees.
            if (
                second_intent
                and second_intent.get("name") == best.article.intent
                and float(second_intent.get("confidence", 0)) >= self.settings.intent_threshold
            ):
                return self.answer(best.article, turn)
        if (
            second_intent
            and second_intent.get("name") in BEYOND_GUIDANCE_TOPICS
            and float(second_intent.get("confidence", 0)) >= self.settings.intent_threshold
        ):
            return self.escalate(turn, Reason.BEYOND_GUIDANCE, topic=second_intent["name"])
        if turn.intent == "out_of_scope":
            lead = replies.text("clarify.out_of_scope")
        else:
            lead = replies.text("clarify.unsure")
        return self.clarify(turn, [m.article for m in matches if m.score > 0.2], lead)

    def clarify(self, turn: Turn, closest: list[Article], lead: str) -> Reply:
        misses = turn.misses + 1
        topics = [_topic_button(a) for a in closest[:3]]
        if misses >= MISSES_BEFORE_ADVISER_FIRST:
            text = replies.text("clarify.after_misses", lead=lead)
            buttons = [ADVISER_BUTTON, *topics]
        else:
            text = replies.text("clarify.with_topics", lead=lead) if topics else lead
            buttons = [*topics, ADVISER_BUTTON]
        return Reply(
            "clarify", [Message(text, buttons)], misses=misses, offered=[a.id for a in closest[:3]]
        )

    def open_case(self, turn: Turn, reason: Reason, topic: str | None, urgent: bool) -> Case:
        summary = "\n".join(
            replies.text("cases.parent_said", text=text[:300]) for text in turn.recent[-5:]
        )
        topic_line = (
            replies.text("cases.topic", topic=topic) if topic else replies.text("cases.no_topic")
        )
        return self.cases.open_case(
            Case(
                turn.conversation_id,
                turn.channel,
                reason,
                topic=topic,
                priority=Priority.URGENT if urgent else Priority.NORMAL,
                summary=f"{topic_line}\n{summary}".strip(),
            )
        )

    def adviser_on_duty(self) -> bool:
        return self.settings.opening_hours.is_open(self.clock()) and bool(
            self.cases.available_advisers()
        )

    def escalate(
        self,
        turn: Turn,
        reason: Reason,
        topic: str | None = None,
        topics: list[str] | None = None,
    ) -> Reply:
        topics = topics or ([topic] if topic else [])
        case = self.open_case(turn, reason, ", ".join(topics) or None, urgent=False)
        escalated = topics if reason is Reason.BEYOND_GUIDANCE else []
        if reason is Reason.BEYOND_GUIDANCE and topics:
            named = (
                replies.text(
                    "escalate.and",
                    first=", ".join(BEYOND_GUIDANCE_TOPICS[t] for t in topics[:-1]),
                    last=BEYOND_GUIDANCE_TOPICS[topics[-1]],
                )
                if len(topics) > 1
                else BEYOND_GUIDANCE_TOPICS[topics[0]]
            )
            why = replies.text("escalate.beyond_guidance", topic=named)
        else:
            why = replies.text("escalate.parent_asked")
        if self.adviser_on_duty():
            ahead = self.cases.people_ahead(case)
            if ahead == 0:
                queue = replies.text("escalate.queue_next")
            elif ahead == 1:
                queue = replies.text("escalate.queue_one")
            else:
                queue = replies.text("escalate.queue_many", ahead=ahead)
            self.cases.set_paused(case.id, True)
            text = replies.text("escalate.on_duty", why=why, reference=case.reference, queue=queue)
            buttons = [LEAVE_QUEUE_BUTTON]
            return Reply(
                "escalate", [Message(text, buttons)], case=case, pause=True, escalated=escalated
            )
        text = replies.text(
            "escalate.off_duty",
            why=why,
            hours=self.settings.opening_hours.describe(),
            reference=case.reference,
        )
        if self.time_critical(escalated):
            text = f"{text}\n\n{replies.text('escalate.time_critical')}"
        buttons = [CALLBACK_BUTTON, NO_THANKS_BUTTON]
        return Reply("escalate", [Message(text, buttons)], case=case, escalated=escalated)

    def time_critical(self, topics: list[str]) -> bool:
        """A topic where a date on a letter may run out (knowledge/service.yml)."""
        critical = self.kb.service.time_critical_topics if self.kb.service else ()
        return any(topic in critical for topic in topics)

    def introduction(self) -> str:
        return introduction(self.settings)

    def safeguarding(self, turn: Turn) -> Reply:
        """The fixed reply first, then truthfully what happens next (an adviser now, or when
        the service opens, with the call-back form), then a way on if this was a misreading. The
        conversation is not paused: the parent can carry on."""
        case = self.open_case(turn, Reason.SAFEGUARDING, "safeguarding", urgent=True)
        if self.adviser_on_duty():
            next_step = Message(
                replies.text("safeguarding.adviser_on_duty", reference=case.reference)
            )
        elif turn.in_callback_form:
            # Already asking for a call-back: no button for it; the form carries on after this.
            next_step = Message(
                replies.text(
                    "safeguarding.adviser_off_duty_in_callback",
                    hours=self.settings.opening_hours.describe(),
                    reference=case.reference,
                )
            )
        else:
            next_step = Message(
                replies.text(
                    "safeguarding.adviser_off_duty",
                    hours=self.settings.opening_hours.describe(),
                    reference=case.reference,
                ),
                [CALLBACK_BUTTON],
            )
        messages = [
            Message(SAFEGUARDING_REPLY),
            next_step,
            Message(replies.text("safeguarding.misunderstood")),
        ]
        return Reply("safeguarding", messages, case=case)

    def smalltalk(self, turn: Turn) -> Reply:
        if turn.intent == "deny" and turn.last_route == ROUTE_ESCALATE:
            # "No thanks" to the call-back offer: offering an adviser again would go round.
            return Reply(
                "smalltalk",
                [Message(replies.text("smalltalk.deny_after_offer"))],
                misses=turn.misses,
            )
        buttons = [ADVISER_BUTTON] if turn.intent in ("bot_challenge", "deny") else []
        return Reply(
            "smalltalk",
            [Message(SMALLTALK_REPLIES[turn.intent], buttons)],
            misses=turn.misses,
        )
