"""The call-back form: validating each answer, asking for consent, and storing the request."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.runtime import responder, turn_from_tracker
from bot.assistant import replies
from bot.assistant.callback import (
    CONSENT_BUTTONS,
    CONSENT_QUESTION,
    PRIVACY_STATEMENT,
    QUESTIONS,
    check_best_time,
    check_contact,
    check_first_name,
)
from bot.contract import Callback, Reason

# In the order the form asks: consent first, before any detail is typed.
FORM_SLOTS = ("callback_consent", "callback_contact", "callback_time", "callback_name")


def _checked(slot: str, checked, dispatcher: CollectingDispatcher) -> dict[str, Any]:
    if checked.problem:
        dispatcher.utter_message(text=checked.problem)
        return {slot: None}
    return {slot: checked.value}


class ValidateCallbackForm(FormValidationAction):
    def name(self) -> str:
        return "validate_callback_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        """A "no" to consent ends the form there: no contact details are asked for."""
        if tracker.get_slot("callback_consent") is False:
            return ["callback_consent"]
        return list(domain_slots)

    def validate_callback_contact(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return _checked("callback_contact", check_contact(value), dispatcher)

    def validate_callback_time(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return _checked("callback_time", check_best_time(value), dispatcher)

    def validate_callback_name(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return _checked("callback_name", check_first_name(value), dispatcher)


class _AskAction(Action):
    slot = ""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    def run(self, dispatcher, tracker, domain) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=QUESTIONS[self.slot])
        return []


class ActionAskCallbackContact(_AskAction):
    slot = "callback_contact"


class ActionAskCallbackTime(_AskAction):
    slot = "callback_time"


class ActionAskCallbackName(_AskAction):
    slot = "callback_name"


class ActionAskCallbackConsent(Action):
    def name(self) -> str:
        return "action_ask_callback_consent"

    def run(self, dispatcher, tracker, domain) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=PRIVACY_STATEMENT)
        dispatcher.utter_message(
            text=CONSENT_QUESTION,
            buttons=list(CONSENT_BUTTONS),
        )
        return []


def _clear_form() -> list[dict[str, Any]]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS]


class ActionSubmitCallback(Action):
    def name(self) -> str:
        return "action_submit_callback"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if tracker.get_slot("callback_consent") is not True:
            dispatcher.utter_message(text=replies.text("callback.declined"))
            return [SlotSet("route", "smalltalk"), *_clear_form()]
        bot = responder()
        turn = turn_from_tracker(tracker)
        case = bot.open_case(turn, Reason.PARENT_ASKED, topic=None, urgent=False)
        callback = Callback(
            contact=tracker.get_slot("callback_contact"),
            best_time=tracker.get_slot("callback_time"),
            first_name=tracker.get_slot("callback_name") or None,
        )
        case = bot.cases.request_callback(case.id, callback)
        dispatcher.utter_message(
            text=replies.text(
                "callback.requested", best_time=callback.best_time, reference=case.reference
            )
        )
        return [SlotSet("route", "escalate"), SlotSet("kb_article", None), *_clear_form()]


class ActionStopForm(Action):
    def name(self) -> str:
        return "action_stop_form"

    def run(self, dispatcher, tracker, domain) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=replies.text("callback.stopped"))
        return [SlotSet("route", "smalltalk"), SlotSet("kb_article", None), *_clear_form()]
