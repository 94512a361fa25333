"""The deterministic safeguarding check catches risk anywhere in a message, and only risk."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.assistant.safeguarding import SAFEGUARDING_CHECK, SemanticRiskCheck

BENCH = Path(__file__).resolve().parents[1] / "bench"
MESSAGES = yaml.safe_load((BENCH / "safeguarding.yml").read_text())
# Sets used to broaden the checks: every message in them must stay caught (phrases or meaning).
TUNED_SETS = [
    yaml.safe_load((BENCH / n).read_text())
    for n in ("safeguarding_dev.yml", "safeguarding_dev2.yml")
]


@pytest.mark.parametrize("message", MESSAGES["messages"])
def test_risk_messages_are_caught(message):
    assert SAFEGUARDING_CHECK.matches(message), message


@pytest.mark.parametrize("message", MESSAGES["not_safeguarding"])
def test_everyday_phrases_are_not_alarms(message):
    assert SAFEGUARDING_CHECK.matches(message) is None, SAFEGUARDING_CHECK.matches(message)


def test_a_risk_buried_in_a_very_long_question_is_caught():
    padding = "my son is in year 5 and the school says he is fine but i am not so sure. " * 60
    message = padding + "last night he told me he wants to kill himself. " + padding
    assert len(message) > 8000
    assert SAFEGUARDING_CHECK.matches(message).category == "suicide"


@pytest.mark.parametrize(
    "message, category",
    [
        ("She Wants To DIE", "suicide"),
        ("he's been self-harming again", "self_harm"),
        ("my partner is violent when he drinks", "domestic_violence"),
        ("he came home with bruises on his arms after they restrained him", "abuse"),
        ("they pinned him to the floor in the corridor", "restraint_injury"),
    ],
)
def test_case_and_punctuation_do_not_hide_risk(message, category):
    assert SAFEGUARDING_CHECK.matches(message).category == category


@pytest.mark.parametrize("message", ["", "   ", "what is a senco", "<script>alert(1)</script>"])
def test_ordinary_or_empty_messages_pass(message):
    assert SAFEGUARDING_CHECK.matches(message) is None


@pytest.fixture(scope="module")
def semantic():
    from tests.unit.test_intent_model import examples

    texts, labels = examples(
        *sorted((Path(__file__).resolve().parents[2] / "data" / "nlu").glob("*.yml"))
    )
    ordinary = [t for t, label in zip(texts, labels, strict=True) if label != "safeguarding"]
    return SemanticRiskCheck.build(ordinary, threshold=0.5, margin=0.0)


@pytest.mark.slow
def test_the_meaning_check_catches_a_risk_the_phrases_miss(semantic):
    message = (
        "we are waiting for the senco to get back to us about his reading support. "
        "he told me that nobody would even notice if he was gone. who should i chase"
    )
    assert SAFEGUARDING_CHECK.matches(message) is None
    assert semantic.matches(message)


@pytest.mark.slow
@pytest.mark.parametrize(
    "message",
    [
        "what is a senco",
        "the school says they cant afford a TA for him what can i do",
        "can i ask for an ehc needs assessment myself",
        "he gets really upset at home time and cries when the bell goes",
    ],
)
def test_the_meaning_check_leaves_ordinary_questions_alone(semantic, message):
    assert semantic.matches(message) is None


@pytest.mark.slow
@pytest.mark.parametrize("message", [m for d in TUNED_SETS for m in d["messages"]])
def test_risks_from_the_tuning_sets_stay_caught(semantic, message):
    assert SAFEGUARDING_CHECK.matches(message) or semantic.matches(message), message


def test_one_decision_says_whether_a_message_is_about_risk():
    from bot.assistant.safeguarding import is_at_risk

    assert is_at_risk("he said he wants to kill himself", None)
    assert is_at_risk("something the patterns do not know", "safeguarding"), "the NLU's verdict"
    assert not is_at_risk("what does a senco do", "kb_senco")
    assert not is_at_risk(None, None) and not is_at_risk("", "out_of_scope")
