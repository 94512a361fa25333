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

from bot.assistant.knowledge import Article, KnowledgeBase
from bot.assistant.retrieval import KnowledgeRetriever
from bot.assistant.safeguarding import SAFEGUARDING_REPLY, is_at_risk
from bot.assistant.vocabulary import ENTITY_LABEL, article_for_entity
from bot.contract import Case, Priority, Reason
from bot.settings import Settings

ADVISER_BUTTON = {"title": "Talk to an adviser", "payload": "/request_human"}
CALLBACK_BUTTON = {"title": "Ask an adviser to contact me", "payload": "/request_callback"}
LEAVE_QUEUE_BUTTON = {"title": "Leave the queue", "payload": "/stop"}
FALLBACK_INTENT = "nlu_fallback"
SMALLTALK_INTENTS = {"greet", "goodbye", "thanks", "bot_challenge", "affirm", "deny", "stop"}
MISSES_BEFORE_ADVISER_FIRST = 2

# Why each beyond-guidance topic needs a person, in a parent's words.
BEYOND_GUIDANCE_TOPICS: dict[str, str] = {
    "out_ehcp_process": "how the EHCP process works and its timescales",
    "out_ehcp_refusal": "a refusal to assess or to issue an EHCP",
    "out_appeals_tribunal": "appeals, mediation and the SEND Tribunal",
    "out_annual_review": "annual reviews of an EHCP",
    "out_exclusion": "exclusions, suspensions and part-time timetables",
    "out_school_placement": "choosing or naming a school and school places",
    "out_transport": "home-to-school transport",
    "out_post16": "rights after 16 and moving to college",
    "out_home_education": "home education",
    "out_independent_school": "independent schools",
    "out_diagnosis_medical": "diagnosis and medical questions",
    "out_other_nations": "Wales, Scotland or Northern Ireland, which have different systems",
    "out_la_complaint": "complaints about a local authority",
}

INTRODUCTION = (
    "Hello, I'm the SEN Support Assistant: an automated helper, not a person. I give general "
    "information from the SEN Support guidance for schools in England. It isn't legal advice.\n"
    "I can put you in touch with an adviser at any time.\n"
    "Please don't share names or other personal details here."
)

SMALLTALK_REPLIES = {
    "greet": "Hello! What would you like to know about SEN Support? You can ask in your own words.",
    "goodbye": "Goodbye, and take care. You can come back any time.",
    "thanks": "You're welcome. Is there anything else about SEN Support I can help with?",
    "bot_challenge": (
        "I'm an automated assistant, not a person. I can put you in touch with an adviser "
        "if you'd like to talk to someone."
    ),
    "affirm": "Okay. What else would you like to know about SEN Support?",
    "deny": "Okay. You can ask me another question, or talk to an adviser.",
    "stop": "Okay, I've stopped. What else would you like to know about SEN Support?",
}


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


def _topic_button(article: Article) -> dict:
    return {"title": article.title, "payload": f"/{article.intent}"}


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
        if is_at_risk(turn.text, turn.intent):
            return self.safeguarding(turn)
        if turn.intent in SMALLTALK_INTENTS:
            return self.smalltalk(turn)
        if turn.intent == "request_human":
            # After the bot failed twice in a row, the case says so: the adviser should know
            # the parent was not helped, not just that they asked.
            missed = turn.misses >= MISSES_BEFORE_ADVISER_FIRST
            return self.escalate(turn, Reason.REPEATED_MISSES if missed else Reason.PARENT_ASKED)
        if turn.intent in BEYOND_GUIDANCE_TOPICS:
            return self.escalate(turn, Reason.BEYOND_GUIDANCE, topic=turn.intent)
        article = self.kb.article_for_intent(turn.intent)
        if article is not None:
            return self.answer(self.refine(article, turn.entities), turn)
        return self.fallback(turn)

    def answer(self, article: Article, turn: Turn) -> Reply:
        related = [self.kb.articles[r] for r in article.related[:3] if r in self.kb.articles]
        buttons = [_topic_button(a) for a in related] + [ADVISER_BUTTON]
        text = f"{article.answer}\n\n{self.kb.source_line(article)}"
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
            return self.clarify(
                turn, [], "I didn't catch a question there. What would you like to know?"
            )
        if not looks_like_english(text):
            return self.clarify(
                turn,
                [],
                "Sorry, I can only understand questions in English at the moment. "
                "An adviser may be able to help in other ways.",
            )
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
            lead = "Sorry, I can only help with questions about SEN Support in schools in England."
        else:
            lead = "I'm not sure I've understood. Did you mean one of these?"
        return self.clarify(turn, [m.article for m in matches if m.score > 0.2], lead)

    def clarify(self, turn: Turn, closest: list[Article], lead: str) -> Reply:
        misses = turn.misses + 1
        topics = [_topic_button(a) for a in closest[:3]]
        if misses >= MISSES_BEFORE_ADVISER_FIRST:
            text = (
                "I'm sorry I haven't been able to help. An adviser could talk this through "
                "with you. " + lead
            )
            buttons = [ADVISER_BUTTON, *topics]
        else:
            text = lead + (" Or you can talk to an adviser." if topics else "")
            buttons = [*topics, ADVISER_BUTTON]
        return Reply("clarify", [Message(text, buttons)], misses=misses)

    def open_case(self, turn: Turn, reason: Reason, topic: str | None, urgent: bool) -> Case:
        summary = "\n".join(f"Parent: {text[:300]}" for text in turn.recent[-5:])
        topic_line = f"Topic: {topic}" if topic else "Topic: not detected"
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

    def escalate(self, turn: Turn, reason: Reason, topic: str | None = None) -> Reply:
        case = self.open_case(turn, reason, topic, urgent=False)
        if reason is Reason.BEYOND_GUIDANCE and topic:
            why = (
                f"That's a question about {BEYOND_GUIDANCE_TOPICS[topic]}. The guidance I answer "
                "from doesn't cover it, and I don't want to guess about your rights, so this "
                "needs an adviser."
            )
        else:
            why = "Of course."
        if self.adviser_on_duty():
            ahead = self.cases.people_ahead(case)
            queue = (
                "You're next."
                if ahead == 0
                else f"There {'is' if ahead == 1 else 'are'} "
                f"{ahead} {'person' if ahead == 1 else 'people'} waiting before you."
            )
            self.cases.set_paused(case.id, True)
            text = (
                f"{why} An adviser will join this chat shortly (reference {case.reference}). "
                f'{queue} I\'ll stay quiet until then. Type "cancel" to leave the queue.'
            )
            buttons = [LEAVE_QUEUE_BUTTON]
            return Reply("escalate", [Message(text, buttons)], case=case, pause=True)
        text = (
            f"{why} No adviser is online right now (advisers are online "
            f"{self.settings.opening_hours.describe()}). I've noted your question "
            f"(reference {case.reference}). Would you like an adviser to contact you?"
        )
        buttons = [CALLBACK_BUTTON, {"title": "No thanks", "payload": "/deny"}]
        return Reply("escalate", [Message(text, buttons)], case=case)

    def safeguarding(self, turn: Turn) -> Reply:
        case = self.open_case(turn, Reason.SAFEGUARDING, "safeguarding", urgent=True)
        return Reply("safeguarding", [Message(SAFEGUARDING_REPLY)], case=case)

    def smalltalk(self, turn: Turn) -> Reply:
        buttons = [ADVISER_BUTTON] if turn.intent in ("bot_challenge", "deny") else []
        return Reply(
            "smalltalk",
            [Message(SMALLTALK_REPLIES[turn.intent], buttons)],
            misses=turn.misses,
        )
