"""Escalation to a live adviser or a call-back, through the real actions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.callback import ActionStopForm, ActionSubmitCallback, ValidateCallbackForm
from actions.escalate import ActionEscalate
from actions.runtime import responder
from bot.assistant.callback import check_best_time, check_contact, check_first_name
from bot.contract import Status
from tests.conftest import make_tracker

MONDAY_10AM = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
SUNDAY_10AM = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)


def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker, {})
    return dispatcher.messages, events


@pytest.fixture
def on_duty(data_dir):
    bot = responder()
    bot.cases.add_adviser("sam", "Sam")
    bot.cases.set_available("sam", True)
    bot.clock = lambda: MONDAY_10AM
    return bot


def test_with_an_adviser_on_duty_the_parent_queues_and_the_bot_pauses(on_duty):
    run(ActionEscalate(), make_tracker("i want a person", "request_human", sender_id="first"))
    messages, events = run(
        ActionEscalate(), make_tracker("can i talk to someone", "request_human", sender_id="me")
    )
    assert "An adviser will join this chat" in messages[0]["text"]
    assert "1 person waiting before you" in messages[0]["text"]
    assert messages[0]["buttons"][0]["payload"] == "/stop"
    assert {"event": "pause", "timestamp": None} in events
    case = on_duty.cases.open_case_for("me")
    assert case.status is Status.WAITING and case.paused


def test_outside_opening_hours_a_call_back_is_offered_and_nothing_pauses(on_duty):
    on_duty.clock = lambda: SUNDAY_10AM
    messages, events = run(ActionEscalate(), make_tracker("talk to someone", "request_human"))
    assert "No adviser is online right now" in messages[0]["text"]
    assert "Monday to Friday, 09:00 to 17:00" in messages[0]["text"]
    assert messages[0]["buttons"][0]["payload"] == "/request_callback"
    assert all(e["event"] != "pause" for e in events)


def test_nobody_available_in_hours_also_offers_a_call_back(on_duty):
    on_duty.cases.set_available("sam", False)
    messages, events = run(ActionEscalate(), make_tracker("talk to someone", "request_human"))
    assert "/request_callback" in [b["payload"] for b in messages[0]["buttons"]]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Parent@Example.co.uk", "parent@example.co.uk"),
        ("07700 900123", "07700900123"),
        ("+44 7700 900123", "07700900123"),
        ("(020) 7946-0018", "02079460018"),
    ],
)
def test_valid_contact_details_are_tidied(text, expected):
    assert check_contact(text).value == expected


@pytest.mark.parametrize("text", ["parent@", "me@example", "12345", "call me", "", "0770090"])
def test_invalid_contact_details_get_a_clear_message(text):
    checked = check_contact(text)
    assert checked.value is None
    assert "UK phone number" in checked.problem or "email address" in checked.problem


def test_first_name_is_optional_and_time_is_needed():
    assert check_first_name("skip").value == ""
    assert check_first_name("jo").value == "Jo"
    assert check_first_name("<b>x</b>").problem
    assert check_best_time("").problem
    assert check_best_time("weekday mornings").value == "weekday mornings"


def test_the_form_rejects_a_bad_email_with_a_message(data_dir):
    dispatcher = CollectingDispatcher()
    slots = ValidateCallbackForm().validate_callback_contact(
        "me@nowhere", dispatcher, make_tracker("me@nowhere", "affirm"), {}
    )
    assert slots == {"callback_contact": None}
    assert "email address" in dispatcher.messages[0]["text"]


def form_tracker(consent: bool | None):
    return make_tracker(
        "yes",
        "affirm",
        sender_id="caller",
        slots={
            "callback_contact": "07700900123",
            "callback_time": "after 3pm",
            "callback_name": "Jo",
            "callback_consent": consent,
        },
    )


def test_with_consent_a_call_back_case_is_stored_with_a_reference(data_dir):
    messages, events = run(ActionSubmitCallback(), form_tracker(True))
    case = responder().cases.open_case_for("caller")
    assert case.status is Status.CALLBACK_REQUESTED
    assert (case.callback.contact, case.callback.best_time, case.callback.first_name) == (
        "07700900123",
        "after 3pm",
        "Jo",
    )
    assert case.reference in messages[0]["text"]
    cleared = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert cleared["callback_contact"] is None and cleared["route"] == "escalate"


def test_without_consent_nothing_is_stored(data_dir):
    messages, _ = run(ActionSubmitCallback(), form_tracker(False))
    assert responder().cases.open_case_for("caller") is None
    assert "haven't asked for your details" in messages[0]["text"]


def test_stopping_the_form_clears_what_was_typed(data_dir):
    messages, events = run(ActionStopForm(), form_tracker(None))
    assert "haven't asked an adviser to contact you" in messages[0]["text"]
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["callback_contact"] is None and slots["callback_name"] is None
    assert responder().cases.open_case_for("caller") is None


def test_a_new_session_keeps_a_live_hand_off_paused(on_duty):
    from actions.session import ActionSessionStart

    run(ActionEscalate(), make_tracker("talk to someone", "request_human", sender_id="quiet"))
    dispatcher = CollectingDispatcher()
    events = ActionSessionStart().run(
        dispatcher, make_tracker("hi", "greet", sender_id="quiet"), {}
    )
    assert dispatcher.messages == []
    assert [e["event"] for e in events][:2] == ["session_started", "pause"]


def test_asking_for_a_person_after_two_misses_is_recorded_as_repeated_misses(data_dir):
    from bot.contract import Reason

    tracker = make_tracker("adviser please", "request_human", slots={"misses": 2.0})
    run(ActionEscalate(), tracker)
    assert responder().cases.open_case_for("parent-1").reason is Reason.REPEATED_MISSES
