"""What a parent notices when a message asks several things or leans on the conversation so far:
each topic answered or handed over, follow-ups read against the last answer, a short reply to a
clarify picking among the topics offered, corrections, "tell me more", and the child's stage.
Run through the real actions with real rasa_sdk trackers."""

from __future__ import annotations

from actions.answer import ActionAnswer
from actions.runtime import responder
from bot.assistant import replies
from bot.assistant.responder import ADVISER_BUTTON
from tests.conftest import make_tracker, run_action


def run(tracker):
    return run_action(ActionAnswer(), tracker)


def ranked(*pairs):
    return [{"name": name, "confidence": confidence} for name, confidence in pairs]


def after(article_id, text, *pairs, **slots):
    """The parent's next message, just after the assistant answered from ``article_id``."""
    ranking = ranked(*pairs) if pairs else []
    top = ranking[0] if ranking else {"name": None, "confidence": 0.0}
    return make_tracker(
        text,
        top["name"],
        top["confidence"],
        ranking=ranking,
        slots={"kb_articles": [article_id], "kb_article": article_id, **slots},
    )


def test_a_message_asking_two_things_gets_a_short_answer_to_each_with_its_source(data_dir):
    kb = responder().kb
    tracker = make_tracker(
        "School say there's no money for his support. Can they say that? And who is the SENCO?",
        "kb_no_funding",
        0.7,
        ranking=ranked(("kb_no_funding", 0.7), ("kb_senco", 0.1)),
        parts=[
            {"text": "Can they say that?", "ranking": ranked(("kb_no_funding", 0.8))},
            {"text": "And who is the SENCO?", "ranking": ranked(("kb_senco", 0.9))},
        ],
    )
    messages, slots = run(tracker)
    text = messages[0]["text"]
    assert text.startswith(replies.text("answer.several"))
    for article_id in ("no-funding", "senco"):
        article = kb.articles[article_id]
        assert article.summary in text
        assert kb.source_line(article) in text
    assert messages[0]["buttons"][-1] == ADVISER_BUTTON
    assert slots["route"] == "answer"
    assert slots["kb_article"] == "no-funding"
    assert slots["kb_articles"] == ["no-funding", "senco"]
    assert slots["escalated_topics"] == []


def test_the_part_beyond_the_guidance_is_named_and_handed_to_an_adviser(data_dir):
    tracker = make_tracker(
        "who is the senco? also the school keep sending him home at lunch, can they?",
        "kb_senco",
        0.6,
        ranking=ranked(("kb_senco", 0.6), ("out_exclusion", 0.3)),
        parts=[
            {"text": "who is the senco?", "ranking": ranked(("kb_senco", 0.95))},
            {
                "text": "also the school keep sending him home at lunch, can they?",
                "ranking": ranked(("out_exclusion", 0.8)),
            },
        ],
    )
    messages, slots = run(tracker)
    assert slots["kb_articles"] == ["senco"]
    assert slots["escalated_topics"] == ["out_exclusion"]
    topic = replies.topics()["out_exclusion"]
    assert replies.text("answer.part_beyond", topic=topic) in messages[0]["text"]
    # The hand-off follows the answers: a case is open for the exclusion part.
    assert len(messages) == 2
    cases = responder().cases.cases(conversation_id="parent-1")
    assert [c.topic for c in cases] == ["out_exclusion"]


def test_one_topic_asked_twice_is_answered_once(data_dir):
    tracker = make_tracker(
        "what is a senco? who is the senco at school?",
        "kb_senco",
        0.9,
        ranking=ranked(("kb_senco", 0.9)),
        parts=[
            {"text": "what is a senco?", "ranking": ranked(("kb_senco", 0.9))},
            {"text": "who is the senco at school?", "ranking": ranked(("kb_senco", 0.9))},
        ],
    )
    messages, slots = run(tracker)
    assert slots["kb_articles"] == ["senco"]
    assert messages[0]["text"].startswith(responder().kb.articles["senco"].answer)


def test_how_do_i_get_one_after_the_ep_answer_is_about_involving_specialists(data_dir):
    tracker = after(
        "educational-psychologist",
        "how do I get one for my son?",
        ("kb_graduated_approach", 0.4),
        ("kb_educational_psychologist", 0.2),
    )
    _, slots = run(tracker)
    assert slots["kb_article"] == "involving-specialists"


def test_what_if_they_still_refuse_after_no_funding_leads_to_an_assessment(data_dir):
    tracker = after("no-funding", "what if they still refuse?", ("kb_ehcp", 0.5))
    _, slots = run(tracker)
    assert slots["kb_article"] == "ehc-needs-assessment"


def test_a_follow_up_beyond_the_guidance_is_handed_over(data_dir):
    tracker = after("ehc-needs-assessment", "and if they say no?", ("kb_ehcp", 0.5))
    messages, slots = run(tracker)
    assert slots["route"] == "escalate"
    assert slots["escalated_topics"] == ["out_ehcp_refusal"]
    assert replies.topics()["out_ehcp_refusal"] in messages[0]["text"]


def test_a_clear_new_question_wins_over_the_last_topic(data_dir):
    tracker = after("educational-psychologist", "what is the local offer", ("kb_local_offer", 0.97))
    _, slots = run(tracker)
    assert slots["kb_article"] == "local-offer"


def test_tell_me_more_gives_the_detail_a_parent_has_not_seen(data_dir):
    article = responder().kb.articles["speech-language-therapist"]
    assert article.detail
    messages, slots = run(after("speech-language-therapist", "tell me more", ("affirm", 0.4)))
    assert messages[0]["text"].startswith(article.detail)
    assert slots["kb_article"] == "speech-language-therapist"


def test_tell_me_more_without_more_detail_says_so_and_offers_the_nearby_topics(data_dir):
    article = responder().kb.articles["senco"]
    assert not article.detail
    messages, _ = run(after("senco", "can you tell me more", ("affirm", 0.3)))
    assert messages[0]["text"] == replies.text("answer.no_more", title=article.title)
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads[:-1] == [f"/{responder().kb.articles[r].intent}" for r in article.related[:3]]


def test_a_short_reply_to_a_clarify_picks_among_the_topics_offered(data_dir):
    tracker = make_tracker(
        "the meetings one",
        "nlu_fallback",
        0.3,
        ranking=ranked(("kb_meeting_tips", 0.3), ("kb_sendiass", 0.1)),
        slots={"offered_topics": ["senco", "meetings", "local-offer"], "kb_articles": []},
    )
    _, slots = run(tracker)
    assert slots["kb_article"] == "meetings"


def test_a_clarify_records_what_it_offered(data_dir):
    tracker = make_tracker(
        "the purple banana is on the moon", "nlu_fallback", 0.2, ranking=[{"name": "nlu_fallback"}]
    )
    _, slots = run(tracker)
    assert slots["route"] == "clarify"
    assert isinstance(slots["offered_topics"], list)


def test_sorry_i_meant_answers_the_topic_they_meant(data_dir):
    tracker = after(
        "ehcp",
        "no sorry i meant the assessment bit",
        ("kb_ehcp", 0.5),
        ("out_ehcp_refusal", 0.2),
    )
    _, slots = run(tracker)
    assert slots["kb_article"] == "ehc-needs-assessment"


def test_a_young_person_of_16_or_over_is_told_they_should_be_involved(data_dir):
    article = responder().kb.articles["parent-involvement"]
    note = article.stage_notes["post-16"]
    tracker = make_tracker(
        "my son is 17, should school talk to me about his support?",
        "kb_parent_involvement",
        0.9,
    )
    messages, slots = run(tracker)
    assert messages[0]["text"].startswith(note + "\n")
    assert messages[0]["text"].count(note) == 1
    assert "should" in note and "must" not in note
    assert slots["child_stage"] == "post-16"
    # Remembered on the next turn, which says nothing about age.
    later = make_tracker(
        "how should the school involve me",
        "kb_parent_involvement",
        0.9,
        slots={"child_stage": "post-16"},
    )
    messages, slots = run(later)
    assert messages[0]["text"].startswith(note)
    assert slots["child_stage"] == "post-16"


def test_without_a_stage_the_answer_reads_as_written(data_dir):
    article = responder().kb.articles["parent-involvement"]
    messages, slots = run(make_tracker("how should the school involve me", "kb_parent_involvement"))
    assert messages[0]["text"].startswith(article.answer)
    assert slots["child_stage"] is None


def test_a_long_message_gets_the_second_need_its_background_carries(data_dir):
    """One question at the end, but the background is about another need too: the in-guidance
    part is answered and the beyond-guidance part is handed to an adviser."""
    text = (
        "I spoke to our senco yesterday and she advised that even if we get the ehcp it will not "
        "mean any additional funding and the school will have to cover it from their usual SEN "
        "budget. I had hoped for more 1:1 support but she said the class TA would do it, is this "
        "correct?"
    )
    tracker = make_tracker(
        text,
        "out_support_cut",
        0.42,
        ranking=ranked(("out_support_cut", 0.42), ("kb_school_funding", 0.16), ("kb_ehcp", 0.05)),
    )
    messages, slots = run(tracker)
    assert slots["kb_articles"] == ["school-funding"]
    assert slots["escalated_topics"] == ["out_support_cut"]
    assert responder().kb.articles["school-funding"].summary in messages[0]["text"]


def test_a_short_message_is_not_given_a_second_topic(data_dir):
    tracker = make_tracker(
        "who is the senco",
        "kb_senco",
        0.6,
        ranking=ranked(("kb_senco", 0.6), ("kb_meetings", 0.3)),
    )
    _, slots = run(tracker)
    assert slots["kb_articles"] == ["senco"]


def test_a_follow_up_nothing_else_fits_stays_on_the_last_topic(data_dir):
    tracker = after(
        "ehc-needs-assessment", "can i do that myself or does school have to?", ("kb_senco", 0.12)
    )
    _, slots = run(tracker)
    assert slots["route"] == "answer"
    assert slots["kb_article"] == "ehc-needs-assessment"


def test_a_follow_up_the_classifier_reads_as_something_else_is_not_forced_onto_the_last_topic(
    data_dir,
):
    tracker = after(
        "ehc-needs-assessment", "what about that local offer thing", ("kb_local_offer", 0.6)
    )
    _, slots = run(tracker)
    assert slots["kb_article"] == "local-offer"


def test_a_question_likely_beyond_the_guidance_is_handed_over_though_an_article_leads(data_dir):
    """The NLU's yes/no model says the question is beyond the guidance: an article that happens
    to lead the ranking does not answer it."""
    tracker = make_tracker(
        "does a child have to see an EP before the school can ask for a statutory assessment",
        "kb_educational_psychologist",
        0.5,
        ranking=ranked(("kb_educational_psychologist", 0.5), ("out_ehcp_process", 0.2)),
        beyond=0.7,
    )
    _, slots = run(tracker)
    assert slots["route"] == "escalate"
    assert slots["escalated_topics"] == ["out_ehcp_process"]


def test_a_question_unlikely_beyond_the_guidance_is_answered(data_dir):
    tracker = make_tracker(
        "what does an educational psychologist do",
        "kb_educational_psychologist",
        0.5,
        ranking=ranked(("kb_educational_psychologist", 0.5), ("out_ehcp_process", 0.3)),
        beyond=0.1,
    )
    _, slots = run(tracker)
    assert slots["route"] == "answer"
    assert slots["kb_article"] == "educational-psychologist"


def test_the_beyond_model_does_not_speak_for_a_message_that_is_not_about_sen(data_dir):
    """A typed button payload or nonsense is not a question beyond the guidance, whatever the
    yes/no model (trained on articles against beyond-guidance topics only) makes of it."""
    tracker = make_tracker(
        'request_human{"x":1}',
        "nlu_fallback",
        0.5,
        ranking=ranked(("request_human", 0.26), ("bot_challenge", 0.12), ("out_transport", 0.05)),
        beyond=0.68,
    )
    _, slots = run(tracker)
    assert slots["route"] != "escalate"
    assert slots["escalated_topics"] == []
