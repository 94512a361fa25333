"""The actions, run with real rasa_sdk trackers and a CollectingDispatcher."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswer
from actions.escalate import ActionEscalate
from actions.runtime import responder
from actions.safeguarding import ActionSafeguarding
from actions.session import ActionSessionStart
from actions.smalltalk import ActionSmalltalk
from bot.assistant.responder import ADVISER_BUTTON
from bot.assistant.safeguarding import SAFEGUARDING_REPLY
from bot.contract import Priority, Reason, Status
from tests.conftest import make_tracker, run_action

run = run_action


def test_a_knowledge_intent_is_answered_from_its_article_with_source_and_buttons(data_dir):
    messages, slots = run(ActionAnswer(), make_tracker("whos the senco", "kb_senco"))
    article = responder().kb.articles["senco"]
    assert len(messages) == 1
    assert messages[0]["text"].startswith(article.answer)
    assert "Source: SEN Support guidance, section" in messages[0]["text"]
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads[-1] == ADVISER_BUTTON["payload"]
    assert 2 <= len(payloads) - 1 <= 3
    assert all(p.startswith("/kb_") for p in payloads[:-1])
    assert slots == {
        "route": "answer",
        "kb_article": "senco",
        "kb_articles": ["senco"],
        "escalated_topics": [],
        "offered_topics": [],
        "child_stage": None,
        "safety_note": False,
        "misses": 0.0,
    }


def test_a_named_specialist_narrows_the_answer(data_dir):
    tracker = make_tracker(
        "can school get a salt in to see him",
        "kb_involving_specialists",
        entities=[{"entity": "specialist", "value": "SALT"}],
    )
    _, slots = run(ActionAnswer(), tracker)
    assert slots["kb_article"] == "speech-language-therapist"


def test_when_nlu_is_unsure_retrieval_finds_the_article(data_dir):
    tracker = make_tracker(
        "who is the teacher that is in charge of special needs in a school",
        "nlu_fallback",
        confidence=0.5,
        ranking=[{"name": "nlu_fallback", "confidence": 0.5}],
    )
    messages, slots = run(ActionAnswer(), tracker)
    assert slots["route"] == "answer"
    assert slots["kb_article"] == "senco"


def test_nonsense_gets_a_clarifying_question_then_the_adviser_first(data_dir):
    tracker = make_tracker(
        "the purple banana is on the moon", "nlu_fallback", 0.2, ranking=[{"name": "nlu_fallback"}]
    )
    messages, slots = run(ActionAnswer(), tracker)
    assert {k: slots[k] for k in ("route", "kb_article", "kb_articles", "escalated_topics")} == {
        "route": "clarify",
        "kb_article": None,
        "kb_articles": [],
        "escalated_topics": [],
    }
    assert slots["misses"] == 1.0
    assert "not sure" in messages[0]["text"]
    assert messages[0]["buttons"][-1] == ADVISER_BUTTON

    tracker = make_tracker(
        "the purple banana is on the moon",
        "nlu_fallback",
        0.2,
        ranking=[{"name": "nlu_fallback"}],
        slots={"misses": 1.0},
    )
    messages, slots = run(ActionAnswer(), tracker)
    assert slots["misses"] == 2.0
    assert messages[0]["buttons"][0] == ADVISER_BUTTON
    assert "adviser" in messages[0]["text"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\U0001f622\U0001f622",
        "?!?!...",
        "<script>alert(1)</script>",
        "Mae fy mab yn cael trafferth yn yr ysgol",
        "\u0645\u06cc\u0631\u0627 \u0628\u06cc\u0679\u0627",
    ],
)
def test_bad_input_gets_a_polite_reply_and_an_adviser(data_dir, text):
    tracker = make_tracker(text, "nlu_fallback", 0.1, ranking=[{"name": "nlu_fallback"}])
    messages, slots = run(ActionAnswer(), tracker)
    assert slots["route"] == "clarify"
    assert messages and messages[0]["text"]
    assert ADVISER_BUTTON in messages[0]["buttons"]
    assert "<script>" not in messages[0]["text"]


def test_a_beyond_guidance_question_is_escalated_and_recorded(data_dir):
    tracker = make_tracker("how long does an ehcp take", "out_ehcp_process", sender_id="conv-9")
    messages, slots = run(ActionEscalate(), tracker)
    assert slots["route"] == "escalate"
    assert "adviser" in messages[0]["text"]
    assert "timescales" in messages[0]["text"]
    records = responder().cases.cases(conversation_id="conv-9")
    assert len(records) == 1
    record = records[0]
    assert (record.channel, record.reason, record.topic) == (
        "rest",
        Reason.BEYOND_GUIDANCE,
        "out_ehcp_process",
    )
    assert record.status is Status.WAITING
    assert "how long does an ehcp take" in record.summary
    assert record.reference in messages[0]["text"]


def test_asking_for_a_person_is_escalated(data_dir):
    messages, slots = run(
        ActionEscalate(), make_tracker("can i talk to a real person", "request_human")
    )
    assert slots["route"] == "escalate"
    assert responder().cases.cases(conversation_id="parent-1")[0].reason is Reason.PARENT_ASKED


def test_safeguarding_reply_comes_first_even_inside_an_ordinary_question(data_dir):
    tracker = make_tracker(
        "whats a senco, also my dd said she wants to die and i dont know what to do",
        "kb_senco",
    )
    messages, slots = run(ActionAnswer(), tracker)
    assert messages[0]["text"] == SAFEGUARDING_REPLY
    for number in ("999", "0808 800 5000", "0800 1111", "116 123", "111"):
        assert number in messages[0]["text"]
    assert slots["route"] == "safeguarding"
    record = responder().cases.cases(conversation_id="parent-1")[0]
    assert record.priority is Priority.URGENT and record.reason is Reason.SAFEGUARDING


def test_safeguarding_action_always_gives_the_safeguarding_reply(data_dir):
    messages, slots = run(ActionSafeguarding(), make_tracker("i am scared", "safeguarding"))
    assert messages[0]["text"] == SAFEGUARDING_REPLY
    assert slots["route"] == "safeguarding"


@pytest.mark.parametrize(
    "intent", ["greet", "goodbye", "thanks", "bot_challenge", "affirm", "deny"]
)
def test_small_talk_sets_the_smalltalk_route(data_dir, intent):
    messages, slots = run(ActionSmalltalk(), make_tracker("hi", intent))
    assert messages[0]["text"]
    assert slots["route"] == "smalltalk"
    assert slots["kb_article"] is None


def test_bot_challenge_says_it_is_automated(data_dir):
    messages, _ = run(ActionSmalltalk(), make_tracker("are you a real person", "bot_challenge"))
    assert "automated" in messages[0]["text"]


def test_a_conversation_starts_by_saying_what_the_assistant_is(data_dir):
    dispatcher = CollectingDispatcher()
    events = ActionSessionStart().run(dispatcher, make_tracker("hi", "greet"), {})
    intro = dispatcher.messages[0]["text"]
    assert "automated" in intro and "not legal advice" in intro.replace("isn't", "not")
    assert "adviser" in intro and "personal details" in intro
    assert [e["event"] for e in events][0] == "session_started"
