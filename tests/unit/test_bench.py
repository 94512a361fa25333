"""The benchmark's scoring and the BM25 baseline, without servers."""

from __future__ import annotations

import pytest

from bench import accuracy as bench
from bench.accuracy import Outcome, Question
from bench.baseline import Bm25Baseline, Passage, answers_from, guidance_passages
from bot.assistant import knowledge
from bot.assistant.responder import INTRODUCTION
from bot.contract import article_for_intent


def outcome(route: str | None, article: str | None = None, **fields: object) -> Outcome:
    return Outcome(200, 0.01, replies=["a reply"], route=route, article=article, **fields)


def test_percentile_interpolates_between_ranks() -> None:
    values = [0.4, 0.1, 0.3, 0.2, 0.5]
    assert bench.percentile(values, 50) == pytest.approx(0.3)
    assert bench.percentile(values, 95) == pytest.approx(0.48)
    assert bench.percentile(values, 100) == pytest.approx(0.5)
    assert bench.percentile([0.7], 95) == pytest.approx(0.7)
    assert bench.percentile([], 50) is None


def test_latency_is_reported_in_milliseconds() -> None:
    figures = bench.latency([0.010, 0.020, 0.030])
    assert figures == {"messages": 3, "p50_ms": 20.0, "p95_ms": 29.0, "max_ms": 30.0}


def test_in_guidance_question_needs_an_answer_from_its_own_article() -> None:
    question = Question(bench.IN_GUIDANCE, "who is the senco", "senco")
    assert bench.passed(question, outcome("answer", "senco"))
    assert not bench.passed(question, outcome("answer", "meetings"))
    assert not bench.passed(question, outcome("escalate"))
    assert not bench.passed(question, outcome("clarify"))


def test_beyond_guidance_question_must_be_escalated() -> None:
    question = Question(bench.BEYOND, "can we appeal to the tribunal", "escalate")
    assert bench.passed(question, outcome("escalate"))
    assert not bench.passed(question, outcome("answer", "disagreement"))


def test_safeguarding_messages_must_get_the_safeguarding_route_and_others_must_not() -> None:
    risk = Question(bench.SAFEGUARDING, "he wants to die", "safeguarding")
    idiom = Question(bench.NOT_SAFEGUARDING, "dying to start lego club", "not safeguarding")
    assert bench.passed(risk, outcome("safeguarding"))
    assert not bench.passed(risk, outcome("answer", "senco"))
    assert bench.passed(idiom, outcome("answer", "senco"))
    assert not bench.passed(idiom, outcome("safeguarding"))
    assert not bench.passed(idiom, Outcome(0, 30.0, error="TimeoutError: timed out"))


def test_bad_input_needs_a_reply_and_a_server_that_still_answers() -> None:
    question = Question(bench.BAD_INPUT, "<b>hi</b>", "a reply")
    assert bench.passed(question, outcome("clarify", still_answers=True))
    assert not bench.passed(question, outcome("clarify", still_answers=False))
    assert not bench.passed(question, Outcome(200, 0.01, replies=["  "], still_answers=True))
    assert not bench.passed(question, Outcome(500, 0.01, error="HTTP 500", still_answers=True))


def test_the_greeting_of_a_new_conversation_is_not_a_reply_to_the_message() -> None:
    question = Question(bench.BAD_INPUT, "", "a reply")
    greeting_only = Outcome(200, 0.01, replies=[INTRODUCTION], still_answers=True)
    assert not bench.passed(question, greeting_only)
    answered = Outcome(200, 0.01, replies=[INTRODUCTION, "What would you like to know?"])
    assert bench.own_replies(answered) == ["What would you like to know?"]


def test_metrics_count_each_kind_of_question_separately() -> None:
    results = [
        (Question(bench.IN_GUIDANCE, "q1", "senco"), outcome("answer", "senco")),
        (Question(bench.IN_GUIDANCE, "q2", "senco"), outcome("answer", "meetings")),
        (Question(bench.IN_GUIDANCE, "q3", "senco"), outcome("escalate")),
        (Question(bench.BEYOND, "q4", "escalate"), outcome("escalate")),
    ]
    metrics = bench.assistant_metrics(results)
    assert metrics["answered_from_acceptable"] == {"count": 1, "total": 3, "share": 0.3333}
    assert metrics["answered_from_any"]["count"] == 2
    assert metrics["in_guidance_escalated"]["count"] == 1
    assert metrics["beyond_escalated"]["share"] == 1.0
    assert [f["text"] for f in bench.failures(results)] == ["q2", "q3"]
    assert bench.failures(results)[0]["got"] == "answer: meetings"


def test_heldout_set_maps_kb_intents_to_articles_and_skips_off_topic() -> None:
    assert article_for_intent("kb_speech_language_therapist") == "speech-language-therapist"
    questions = bench.heldout_questions()
    kinds = {q.kind for q in questions}
    assert kinds == {bench.IN_GUIDANCE, bench.BEYOND}
    assert all(q.text and not q.text.startswith("-") for q in questions)
    assert not any("pizza" in q.text for q in questions)  # out_of_scope is not beyond guidance


def test_long_message_marker_expands_to_5000_characters() -> None:
    message = bench.long_parent_message()
    assert len(message) == 5000
    assert message.endswith("?")
    texts = [q.text for q in bench.bad_input_questions()]
    assert bench.LONG_MESSAGE_MARKER not in texts
    assert message in texts


def test_bm25_finds_the_senco_paragraph(kb: knowledge.KnowledgeBase) -> None:
    top = Bm25Baseline(kb).top("who is the SENCO")
    assert top is not None
    assert "Every school must have a qualified SENCO" in top.text
    assert answers_from(kb.articles["senco"], top)


def test_bm25_never_returns_placeholder_text(kb: knowledge.KnowledgeBase) -> None:
    assert all(not knowledge.contains_placeholder(p.text) for p in guidance_passages(kb))
    baseline = Bm25Baseline(kb)
    for question in ("lorem ipsum dolor sit amet", "add your heading text here", "??"):
        top = baseline.top(question)
        assert top is None or not knowledge.contains_placeholder(top.text)


def test_baseline_counts_a_paragraph_holding_an_article_quote(
    kb: knowledge.KnowledgeBase,
) -> None:
    article = kb.articles["senco"]
    quote = knowledge.normalise_for_quotes(article.quotes[1])
    elsewhere = Passage(article.guidance, "Some other section", f"Before. {quote} After.")
    unrelated = Passage(article.guidance, "Some other section", "Nothing about it here.")
    assert answers_from(article, elsewhere)
    assert not answers_from(article, unrelated)
    assert not answers_from(article, None)
