"""The deterministic safeguarding check catches risk anywhere in a message, and only risk."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.assistant.risk_model import RiskModel, clauses
from bot.assistant.safeguarding import (
    RISK,
    SAFEGUARDING_CHECK,
    SemanticRiskCheck,
    assess_message,
)

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
        # explicit statements are looked for before words of risk ("bruises" alone is a cue)
        ("he came home with bruises on his arms after they restrained him", "restraint_injury"),
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
    """The risk classifier trained as `rasa train` trains it (about a minute: it embeds every
    training clause)."""
    from tests.unit.test_intent_model import examples

    texts, labels = examples(
        *sorted((Path(__file__).resolve().parents[2] / "data" / "nlu").glob("*.yml"))
    )
    pairs = list(zip(texts, labels, strict=True))
    return SemanticRiskCheck.build(
        [t for t, label in pairs if label == "safeguarding"],
        [t for t, label in pairs if label != "safeguarding"],
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "message",
    [
        # a risk told without any word of risk, in the middle of an ordinary question
        "we are waiting for the senco to get back to us about his reading support. "
        "he told me that nobody would even notice if he was gone. who should i chase",
        # a plan told as an arrangement
        "she has been really quiet, she says she has picked a date and made a plan and wont "
        "tell me what for",
        # hedged
        "im not saying id do anything but i cant see the point of any of it any more",
    ],
)
def test_a_risk_told_indirectly_is_a_clear_risk(semantic, message):
    assert SAFEGUARDING_CHECK.explicit(message) is None
    assert assess_message(message, semantic)[0] == RISK, semantic.score(message)


@pytest.mark.slow
@pytest.mark.parametrize(
    "message",
    [
        "my daughter bruises easily because of her haemophilia, does school need a care plan",
        "what is a senco",
        "the school says they cant afford a TA for him what can i do",
        "can i ask for an ehc needs assessment myself",
    ],
)
def test_a_look_alike_is_neither(semantic, message):
    assert assess_message(message, semantic) == (None, None), semantic.score(message)


@pytest.mark.slow
def test_an_explicit_statement_is_a_clear_risk_whatever_the_classifier_says(semantic):
    message = "he is fine at school and loves maths. he says he wants to kill himself"
    never = SemanticRiskCheck(semantic.model, threshold=2.0, possible_threshold=2.0)
    never.cue_threshold = 2.0
    assert never.assess(message) == (None, None)
    level, found = assess_message(message, never)
    assert level == RISK and found.category == "suicide" and not found.cue


def test_a_word_of_risk_alone_is_the_classifiers_to_weigh():
    found = SAFEGUARDING_CHECK.matches("ds bruises easily, he has haemophilia")
    assert found.cue and SAFEGUARDING_CHECK.explicit("ds bruises easily") is None
    assert assess_message("ds bruises easily", None)[0] == RISK, "no classifier: err on safety"


@pytest.mark.slow
@pytest.mark.parametrize("message", [m for d in TUNED_SETS for m in d["messages"]])
def test_risks_from_the_tuning_sets_stay_caught(semantic, message):
    assert assess_message(message, semantic)[0] == RISK, semantic.score(message)


@pytest.mark.slow
def test_the_trained_weights_survive_save_and_load(semantic, tmp_path):
    semantic.model.save(tmp_path)
    loaded = RiskModel.load(tmp_path)
    again = SemanticRiskCheck(loaded, semantic.threshold, semantic.possible_threshold)
    for message in ("my son says he wants to die", "what is a senco", "he ran off at the park"):
        assert again.score(message)[0] == pytest.approx(semantic.score(message)[0], abs=1e-6)
    assert list(loaded.statement_categories) == list(semantic.model.statement_categories)


def test_a_very_long_message_is_read_to_its_end_in_at_most_40_windows():
    words = [f"w{i}" for i in range(3000)]
    chunks = clauses(" ".join(words))
    assert len(chunks) <= 40
    assert chunks[-1].split()[-1] == "w2999"


def test_a_message_of_many_short_sentences_is_read_whole_in_at_most_40_windows():
    """Reading more short sentences than windows never finishes if only the windows widen (a
    4,000-character message of short sentences hung the thread reading it)."""
    import threading

    text = ". ".join(f"sentence {i} is short" for i in range(400)) + ". he wants to die"
    result: list[list[str]] = []
    reader = threading.Thread(target=lambda: result.append(clauses(text)), daemon=True)
    reader.start()
    reader.join(10)
    assert result, "reading the message did not finish"
    chunks = result[0]
    assert len(chunks) <= 40
    assert " ".join(chunks).split() == text.replace(".", "").split()


def test_one_decision_says_whether_a_message_is_about_risk():
    from bot.assistant.safeguarding import is_at_risk

    assert is_at_risk("he said he wants to kill himself", None)
    assert is_at_risk("something the patterns do not know", "safeguarding"), "the NLU's verdict"
    assert not is_at_risk("what does a senco do", "kb_senco")
    assert not is_at_risk(None, None) and not is_at_risk("", "out_of_scope")
