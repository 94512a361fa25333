"""Greetings, thanks, goodbyes, yes/no and "are you a bot?"."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.runtime import respond


class ActionSmalltalk(Action):
    def name(self) -> str:
        return "action_smalltalk"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return respond(tracker, dispatcher)
