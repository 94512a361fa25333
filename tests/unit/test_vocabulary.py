"""bot.assistant.vocabulary: the ways parents name specialists, and the entity patterns built
from them."""

from __future__ import annotations

import pytest

from bot.assistant.vocabulary import ENTITY_LABEL, SPECIALISTS, article_for_entity, entity_patterns


@pytest.mark.parametrize(
    "written, article",
    [("EP", "educational-psychologist"), ("  Eps ", "educational-psychologist")],
)
def test_a_specialist_written_any_way_names_its_article(written, article):
    assert article_for_entity(written) == article


def test_something_that_is_not_a_specialist_names_no_article():
    assert article_for_entity("teacher's cat") is None
    assert article_for_entity("") is None


def test_every_phrase_names_an_article_of_the_knowledge_base(kb):
    assert set(SPECIALISTS) <= set(kb.articles)
    for article_id, phrases in SPECIALISTS.items():
        assert phrases == [p.lower() for p in phrases], "phrases are matched in lower case"
        for phrase in phrases:
            assert article_for_entity(phrase) == article_id


def test_the_patterns_match_token_by_token_in_lower_case():
    patterns = entity_patterns()
    assert len(patterns) == sum(len(p) for p in SPECIALISTS.values())
    multiword = next(p for p in patterns if len(p["pattern"]) > 1)
    assert all(set(token) == {"LOWER"} for token in multiword["pattern"])
    assert {p["label"] for p in patterns} == {ENTITY_LABEL}
