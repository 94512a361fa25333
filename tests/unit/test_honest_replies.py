"""Answers a parent can rely on (issue 15, items 3 and 5): "Tell me more" as a button, the real
hours in the introduction, no loop after "No thanks", consent asked before any detail is typed,
a nudge out of hours when a date on a letter may run out, and topic phrases that read well."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswer
from actions.callback import ActionSubmitCallback, ValidateCallbackForm
from actions.escalate import ActionEscalate
from actions.runtime import responder
from actions.session import ActionSessionStart
from actions.smalltalk import ActionSmalltalk
from bot.assistant import replies, service
from bot.assistant.responder import ADVISER_BUTTON
from bot.channels.payloads import button_payloads, message_text
from bot.contract import more_payload
from bot.settings import ROOT
from tests.conftest import make_tracker, run_action

MONDAY_10AM = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
SUNDAY_10AM = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
NUDGE = replies.text("escalate.time_critical")


@pytest.fixture
def bot(data_dir):
    found = responder()
    found.cases.add_adviser("sam", "Sam")
    found.cases.set_available("sam", True)
    found.clock = lambda: MONDAY_10AM
    return found


# --- "Tell me more" by a button -----------------------------------------------------------------
def test_an_answer_with_more_detail_has_a_tell_me_more_button(data_dir):
    messages, _ = run_action(ActionAnswer(), make_tracker("what is sendiass", "kb_sendiass"))
    more = {"title": "Tell me more", "payload": '/kb_sendiass{"more":"detail"}'}
    assert messages[0]["buttons"][0] == more
    assert more["payload"] == more_payload("sendiass")


def test_an_answer_with_no_more_detail_has_no_tell_me_more_button(data_dir):
    kb = responder().kb
    plain = next(a for a in kb.articles.values() if not a.detail)
    messages, _ = run_action(ActionAnswer(), make_tracker("a question", plain.intent))
    assert "Tell me more" not in [b["title"] for b in messages[0]["buttons"]]


def test_pressing_tell_me_more_gives_that_articles_detail_with_its_source(data_dir):
    kb = responder().kb
    article = kb.articles["sendiass"]
    # As Rasa parses the payload: the article's intent, and the "more" entity.
    pressed = make_tracker(
        more_payload("sendiass"),
        "kb_sendiass",
        1.0,
        entities=[{"entity": "more", "value": "detail"}],
        slots={"kb_articles": ["senco"], "kb_article": "senco"},  # pressed under an older answer
    )
    messages, slots = run_action(ActionAnswer(), pressed)
    assert messages[0]["text"] == f"{article.detail}\n\n{kb.source_line(article)}"
    assert "Tell me more" not in [b["title"] for b in messages[0]["buttons"]]
    assert slots["route"] == "answer" and slots["kb_article"] == "sendiass"
    assert slots["kb_articles"] == ["sendiass"]


def test_the_tell_me_more_payload_is_one_of_the_assistants_own_buttons():
    payload = more_payload("speech-language-therapist")
    assert payload in button_payloads() and message_text(payload) == payload
    assert len(payload.encode()) <= 64  # Telegram's callback_data
    # Anything else in that shape is read as words, as before.
    assert message_text('/kb_senco{"more":"x"}') == 'kb_senco{"more":"x"}'


# --- the introduction states the real hours -----------------------------------------------------
def test_the_introduction_gives_the_hours_advisers_are_online(data_dir, monkeypatch):
    monkeypatch.setenv("SEN_OPENING_HOURS", "Mon-Thu 10:00-16:00")
    responder.cache_clear()
    messages, _ = run_action(ActionSessionStart(), make_tracker("", None, sender_id="new"))
    intro = messages[0]["text"]
    assert "Monday to Thursday, 10:00 to 16:00" in intro
    assert "at any time" not in intro


# --- "No thanks" does not go round -------------------------------------------------------------
def test_no_thanks_after_the_call_back_offer_does_not_offer_an_adviser_again(bot):
    bot.clock = lambda: SUNDAY_10AM
    offer, _ = run_action(ActionEscalate(), make_tracker("talk to someone", "request_human"))
    no_thanks = next(b for b in offer[0]["buttons"] if b["title"] == "No thanks")
    assert no_thanks["payload"] == "/deny"
    reply, slots = run_action(
        ActionSmalltalk(), make_tracker("/deny", "deny", 1.0, slots={"route": "escalate"})
    )
    assert reply[0]["text"] == replies.text("smalltalk.deny_after_offer")
    assert ADVISER_BUTTON not in (reply[0].get("buttons") or [])
    assert slots["route"] == "smalltalk"


def test_a_no_at_other_times_still_offers_an_adviser(data_dir):
    reply, _ = run_action(ActionSmalltalk(), make_tracker("no", "deny", slots={"route": "answer"}))
    assert ADVISER_BUTTON in reply[0]["buttons"]


# --- consent before any detail is typed ---------------------------------------------------------
def test_the_call_back_form_asks_for_consent_before_any_contact_detail():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    asked = domain["forms"]["callback_form"]["required_slots"]
    assert asked[0] == "callback_consent"
    assert set(asked[1:]) == {"callback_contact", "callback_time", "callback_name"}


def required_after(consent):
    tracker = make_tracker("no", "deny", slots={"callback_consent": consent})
    slots = ["callback_consent", "callback_contact", "callback_time", "callback_name"]
    found = ValidateCallbackForm().required_slots(slots, CollectingDispatcher(), tracker, {})
    return asyncio.run(found)


def test_a_no_to_consent_ends_the_form_before_any_detail_is_asked_for():
    assert required_after(False) == ["callback_consent"]
    assert required_after(True)[1:] == ["callback_contact", "callback_time", "callback_name"]


def test_declining_says_truthfully_that_no_details_were_asked_for(data_dir):
    tracker = make_tracker("no", "deny", sender_id="caller", slots={"callback_consent": False})
    messages, _ = run_action(ActionSubmitCallback(), tracker)
    text = messages[0]["text"]
    assert "haven't asked for your details" in text and "stored" not in text
    assert service.current().phone in text
    assert responder().cases.open_case_for("caller") is None


def test_the_privacy_statement_is_given_before_any_detail_is_typed():
    privacy = replies.text("callback.privacy")
    assert privacy.startswith("Before you give any details")
    assert "nothing is stored" not in privacy


# --- a nudge out of hours when a date may run out -----------------------------------------------
def test_an_exclusion_handed_over_out_of_hours_gets_the_time_critical_line(bot):
    bot.clock = lambda: SUNDAY_10AM
    messages, slots = run_action(
        ActionEscalate(), make_tracker("my son has been excluded", "out_exclusion")
    )
    assert slots["escalated_topics"] == ["out_exclusion"]
    text = messages[0]["text"]
    assert text.endswith(NUDGE)
    assert f"contact {service.current().name} today on {service.current().phone}" in text


def test_the_same_question_in_hours_gets_no_time_critical_line(bot):
    messages, _ = run_action(
        ActionEscalate(), make_tracker("my son has been excluded", "out_exclusion")
    )
    assert NUDGE not in messages[0]["text"]


def test_a_topic_with_no_date_to_meet_gets_no_time_critical_line_out_of_hours(bot):
    bot.clock = lambda: SUNDAY_10AM
    messages, _ = run_action(ActionEscalate(), make_tracker("transport?", "out_transport"))
    assert NUDGE not in messages[0]["text"]


def test_refusals_and_appeals_are_time_critical_too():
    assert {"out_exclusion", "out_ehcp_refusal", "out_appeals_tribunal"} <= set(
        service.current().time_critical_topics
    )


# --- topic phrases read well ------------------------------------------------------------------
def test_every_topic_reads_well_after_a_question_about():
    for intent, phrase in replies.topics().items():
        sentence = replies.text("escalate.beyond_guidance", topic=phrase)
        assert "a question about diagnosis and medical questions" not in sentence, intent
        assert not phrase.endswith("questions"), intent
