"""What the actions share: one Responder per action-server process, and tracker adapters."""

from __future__ import annotations

import functools
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.assistant import knowledge
from bot.assistant.responder import Reply, Responder, Turn
from bot.assistant.retrieval import KnowledgeRetriever
from bot.assistant.safeguarding import possible_risk
from bot.cases.store import CaseStore
from bot.contract import (
    BEYOND_KEY,
    PARTS_KEY,
    SLOT_CHILD_STAGE,
    SLOT_ESCALATED_TOPICS,
    SLOT_KB_ARTICLE,
    SLOT_KB_ARTICLES,
    SLOT_OFFERED,
    SLOT_ROUTE,
    SLOT_SAFETY_NOTE,
)
from bot.settings import load_settings


@functools.lru_cache(maxsize=1)
def knowledge_retriever() -> KnowledgeRetriever:
    """The knowledge base and its index: loaded once per process (embedding takes seconds)."""
    return KnowledgeRetriever(knowledge.load())


@functools.lru_cache(maxsize=1)
def responder() -> Responder:
    settings = load_settings()
    retriever = knowledge_retriever()
    return Responder(retriever.kb, retriever, CaseStore(settings.handoff_db_url), settings)


def turn_from_tracker(tracker: Tracker) -> Turn:
    message: dict[str, Any] = tracker.latest_message or {}
    intent = message.get("intent") or {}
    misses = tracker.get_slot("misses")
    return Turn(
        text=message.get("text") or "",
        intent=intent.get("name"),
        confidence=float(intent.get("confidence") or 0.0),
        ranking=list(message.get("intent_ranking") or []),
        entities=list(message.get("entities") or []),
        conversation_id=tracker.sender_id,
        channel=tracker.get_latest_input_channel() or "unknown",
        misses=int(misses or 0),
        recent=[e.get("text") or "" for e in tracker.events if e.get("event") == "user"][-5:],
        parts=[p for p in message.get(PARTS_KEY) or [] if isinstance(p, dict)],
        last_articles=_strings(tracker.get_slot(SLOT_KB_ARTICLES)),
        offered=_strings(tracker.get_slot(SLOT_OFFERED)),
        stage=tracker.get_slot(SLOT_CHILD_STAGE) or None,
        possible_risk=possible_risk(message),
        in_callback_form=(tracker.active_loop or {}).get("name") == CALLBACK_FORM,
        beyond=_probability(message.get(BEYOND_KEY)),
        last_route=tracker.get_slot(SLOT_ROUTE),
    )


CALLBACK_FORM = "callback_form"


def _probability(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
        return float(value)
    return None


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def deliver(reply: Reply, dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    """Send the reply's messages and return the slot events that record what happened."""
    for message in reply.messages:
        # An answer carries its article id (kept in the event's metadata): the widget puts
        # "Was this helpful?" under it and stores the parent's choice with that id.
        marks = {"article": reply.article} if reply.route == "answer" and reply.article else {}
        dispatcher.utter_message(text=message.text, buttons=message.buttons or None, **marks)
    events = [
        SlotSet(SLOT_ROUTE, reply.route),
        SlotSet(SLOT_KB_ARTICLE, reply.article),
        SlotSet(SLOT_KB_ARTICLES, list(reply.articles)),
        SlotSet(SLOT_ESCALATED_TOPICS, list(reply.escalated)),
        SlotSet(SLOT_OFFERED, list(reply.offered)),
        SlotSet(SLOT_CHILD_STAGE, reply.stage),
        SlotSet(SLOT_SAFETY_NOTE, reply.safety_note),
        SlotSet("misses", float(reply.misses)),
    ]
    return events + [ConversationPaused()] if reply.pause else events


def respond(tracker: Tracker, dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    return deliver(responder().respond(turn_from_tracker(tracker)), dispatcher)
