"""bot.contract: the article-id <-> intent rule every layer uses, and message ids."""

from __future__ import annotations

from bot.contract import ROUTES, article_for_intent, intent_for_article, message_id


def test_an_article_and_its_intent_name_each_other():
    assert intent_for_article("speech-language-therapist") == "kb_speech_language_therapist"
    assert article_for_intent("kb_speech_language_therapist") == "speech-language-therapist"
    for article in ("senco", "what-is-sen", "ehcp"):
        assert article_for_intent(intent_for_article(article)) == article


def test_intents_that_are_not_articles_name_no_article():
    for intent in ("safeguarding", "out_of_scope", "request_human", "", None):
        assert article_for_intent(intent) is None


def test_every_article_in_the_knowledge_base_round_trips(kb):
    for article in kb.articles.values():
        assert article_for_intent(article.intent) == article.id
        assert kb.article_for_intent(article.intent) is article


def test_a_message_id_is_stable_short_and_depends_on_time_and_text():
    first = message_id(1764806400.123, "Hello")
    assert first == message_id(1764806400.123, "Hello") and len(first) == 16
    assert first != message_id(1764806400.124, "Hello")
    assert first != message_id(1764806400.123, "Hello!")


def test_the_routes_are_the_five_the_route_slot_takes():
    assert ROUTES == ("answer", "clarify", "escalate", "safeguarding", "smalltalk")


def test_text_is_cleaned_of_what_no_page_or_file_can_hold():
    from bot.contract import clean_text

    assert clean_text("broken \ud800 display") == "broken \ufffd display"
    assert clean_text("does the school\x00 have to\x1b[31m tell me") == (
        "does the school have to[31m tell me"
    )
    assert clean_text("line one\r\nline two\rthree\tfour") == "line one\nline two\nthree\tfour"
    assert clean_text("caf\u0065\u0301") == "caf\u00e9", "NFC"
    assert (
        clean_text("ordinary words, emoji 😊 and Ünïcödé") == "ordinary words, emoji 😊 and Ünïcödé"
    )
