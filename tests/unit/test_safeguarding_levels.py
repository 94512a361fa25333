"""Two levels of safeguarding (issue 14): a clear risk gets the full reply, an urgent case and a
truthful next step; a possible risk is answered as usual with one short line and `safety_note`."""

from __future__ import annotations

from rasa.shared.nlu.training_data.message import Message

from actions.answer import ActionAnswer
from actions.runtime import responder
from actions.safeguarding import ActionSafeguarding
from bot.assistant import replies
from bot.assistant.responder import ADVISER_BUTTON, CALLBACK_BUTTON
from bot.assistant.safeguarding import POSSIBLE, SAFEGUARDING_REPLY, SAFETY_KEY
from bot.contract import Priority, Reason
from bot.plugins.nlu import SafeguardingOverride
from tests.conftest import make_tracker, run_action

run = run_action


def with_possible_risk(tracker):
    tracker.latest_message[SAFETY_KEY] = {"level": POSSIBLE, "why": "possible:self_harm"}
    return tracker


def test_a_possible_risk_is_answered_as_usual_then_gets_one_short_line(data_dir):
    tracker = with_possible_risk(
        make_tracker("things are hard at home at the moment, who is the senco", "kb_senco")
    )
    messages, slots = run(ActionAnswer(), tracker)
    assert messages[0]["text"].startswith(responder().kb.articles["senco"].answer)
    assert messages[-1]["text"] == replies.text("safeguarding.possible_line")
    assert messages[-1]["buttons"] == [ADVISER_BUTTON]
    assert slots["route"] == "answer"
    assert slots["safety_note"] is True
    assert responder().cases.cases(conversation_id="parent-1") == []  # no case unless asked


def test_an_ordinary_answer_has_no_safety_line(data_dir):
    messages, slots = run(ActionAnswer(), make_tracker("who is the senco", "kb_senco"))
    assert all(m["text"] != replies.text("safeguarding.possible_line") for m in messages)
    assert slots["safety_note"] is False


def test_a_clear_risk_gets_the_full_reply_an_urgent_case_and_a_truthful_next_step(data_dir):
    messages, slots = run(
        ActionSafeguarding(), make_tracker("my son says he wants to die", "safeguarding", 1.0)
    )
    assert messages[0]["text"] == SAFEGUARDING_REPLY
    (case,) = responder().cases.cases(conversation_id="parent-1")
    assert case.priority is Priority.URGENT and case.reason is Reason.SAFEGUARDING
    # Out of hours (no adviser online in tests): says when an adviser will see it, offers the
    # call-back form, promises no call.
    hours = responder().settings.opening_hours.describe()
    assert messages[1]["text"] == replies.text(
        "safeguarding.adviser_off_duty", hours=hours, reference=case.reference
    )
    assert messages[1]["buttons"] == [CALLBACK_BUTTON]
    assert messages[2]["text"] == replies.text("safeguarding.misunderstood")
    assert slots["route"] == "safeguarding"
    assert slots["safety_note"] is False


def test_a_possible_risk_never_downgrades_a_clear_one(data_dir):
    tracker = with_possible_risk(make_tracker("he wants to kill himself", "safeguarding", 1.0))
    messages, slots = run(ActionSafeguarding(), tracker)
    assert messages[0]["text"] == SAFEGUARDING_REPLY
    assert slots["route"] == "safeguarding"
    assert slots["safety_note"] is False


def component():
    override = SafeguardingOverride(SafeguardingOverride.get_default_config(), None, None)
    override.semantic = None  # only the phrase check and the classifier's view
    return override


def parsed(text, intent, ranking):
    message = Message(data={"text": text})
    message.set("intent", intent, add_to_output=True)
    message.set("intent_ranking", ranking, add_to_output=True)
    component().process([message])
    return message.as_dict(only_output_properties=True)


def test_some_of_the_classifiers_belief_in_safeguarding_is_a_possible_risk():
    data = parsed(
        "things at home are hard at the moment, what does the senco do",
        {"name": "kb_senco", "confidence": 0.6},
        [{"name": "kb_senco", "confidence": 0.6}, {"name": "safeguarding", "confidence": 0.2}],
    )
    assert data["intent"]["name"] == "kb_senco"
    assert data[SAFETY_KEY]["level"] == POSSIBLE


def test_an_explicit_statement_is_always_a_clear_risk():
    data = parsed(
        "my daughter said she wants to die, also what is an ehcp",
        {"name": "kb_ehcp", "confidence": 0.9},
        [{"name": "kb_ehcp", "confidence": 0.9}],
    )
    assert data["intent"] == {"name": "safeguarding", "confidence": 1.0}
    assert SAFETY_KEY not in data


def test_an_ordinary_question_is_neither():
    data = parsed(
        "who is the senco",
        {"name": "kb_senco", "confidence": 0.99},
        [{"name": "kb_senco", "confidence": 0.99}, {"name": "safeguarding", "confidence": 0.001}],
    )
    assert data["intent"]["name"] == "kb_senco"
    assert SAFETY_KEY not in data


def test_a_clear_risk_during_the_call_back_form_does_not_offer_the_form_again(data_dir):
    tracker = make_tracker("my partner hit my son last night", "safeguarding", 1.0)
    tracker.active_loop = {"name": "callback_form"}
    messages, slots = run(ActionSafeguarding(), tracker)
    assert messages[0]["text"] == SAFEGUARDING_REPLY
    (case,) = responder().cases.cases(conversation_id="parent-1")
    hours = responder().settings.opening_hours.describe()
    assert messages[1]["text"] == replies.text(
        "safeguarding.adviser_off_duty_in_callback", hours=hours, reference=case.reference
    )
    assert not messages[1]["buttons"]
    assert slots["route"] == "safeguarding"
