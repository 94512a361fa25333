"""Starts each conversation by saying what the assistant is (and is not)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.runtime import responder


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        case = responder().cases.open_case_for(tracker.sender_id)
        if case is not None and case.paused:
            # A new session (after an hour's silence) must not end an adviser's hand-off.
            return [SessionStarted(), ConversationPaused(), ActionExecuted("action_listen")]
        dispatcher.utter_message(text=responder().introduction())
        return [
            SessionStarted(),
            SlotSet("route", "smalltalk"),
            SlotSet("kb_article", None),
            ActionExecuted("action_listen"),
        ]
