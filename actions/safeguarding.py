"""Gives the safeguarding reply and opens an urgent escalation, whatever else was asked."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.runtime import deliver, responder, turn_from_tracker


class ActionSafeguarding(Action):
    def name(self) -> str:
        return "action_safeguarding"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return deliver(responder().safeguarding(turn_from_tracker(tracker)), dispatcher)
