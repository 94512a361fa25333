"""The training data covers every article and topic the way the design says."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from bot.assistant import knowledge
from bot.assistant.responder import BEYOND_GUIDANCE_TOPICS, SMALLTALK_INTENTS
from bot.contract import intent_for_article
from tests.unit.test_intent_model import examples

ROOT = Path(__file__).resolve().parents[2]
NLU_FILES = sorted((ROOT / "data" / "nlu").glob("*.yml"))


def test_every_article_has_an_intent_with_at_least_25_examples():
    _, labels = examples(*NLU_FILES)
    counts = Counter(labels)
    for article_id in knowledge.expected_article_ids():
        intent = intent_for_article(article_id)
        assert counts[intent] >= 25, (intent, counts[intent])


def test_every_other_intent_has_at_least_25_examples():
    _, labels = examples(*NLU_FILES)
    counts = Counter(labels)
    others = [*BEYOND_GUIDANCE_TOPICS, *SMALLTALK_INTENTS, "request_human", "out_of_scope"]
    for intent in [*others, "safeguarding"]:
        assert counts[intent] >= 25, (intent, counts[intent])


def test_no_example_is_repeated():
    texts, _ = examples(*NLU_FILES)
    repeated = [t for t, n in Counter(t.lower() for t in texts).items() if n > 1]
    assert not repeated


def test_domain_lists_exactly_the_intents_in_the_data():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    _, labels = examples(*NLU_FILES)
    assert set(domain["intents"]) == set(labels)


def test_held_out_set_has_at_least_five_questions_per_intent():
    _, labels = examples(ROOT / "tests" / "nlu_heldout.yml")
    _, trained = examples(*NLU_FILES)
    counts = Counter(labels)
    assert set(counts) == set(trained)
    assert min(counts.values()) >= 5
