"""Reading parents' messages: asking parts, follow-ups, corrections and the child's stage
(bot/assistant/understanding.py, phrases in knowledge/understanding.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.assistant import understanding
from bot.assistant.understanding import (
    asking_parts,
    asks,
    child_stage,
    correction,
    follow_up_kind,
    leans_on_context,
)


def test_background_is_left_out_and_each_question_is_a_part():
    text = (
        "My son is 8 and in year 3. He struggles with reading. Can the school say there is no "
        "money? What should the SENCO be doing and should I ask for an EHCP"
    )
    assert asking_parts(text) == [
        "Can the school say there is no money?",
        "What should the SENCO be doing",
        "and should I ask for an EHCP",
    ]


def test_a_question_after_a_comma_or_joined_with_also_is_found():
    assert asking_parts("what is sen support and also who is the senco") == [
        "what is sen support",
        "and also who is the senco",
    ]
    assert asking_parts("my dd is 17 and at college, what should they do") == [
        "my dd is 17 and at college, what should they do"
    ]


def test_questions_run_together_without_a_space_are_split():
    assert asking_parts("Can they refuse to assess him?what about transport") == [
        "Can they refuse to assess him?",
        "what about transport",
    ]


def test_statements_are_not_questions():
    assert asking_parts("My son has autism, he is 6. School say he is fine.") == []
    assert not asks("He has always found reading hard")
    assert asks("any advice would be great")
    assert asks("not sure what to do now")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("tell me more", "more"),
        ("what else?", "more"),
        ("what if the school refuses?", "refused"),
        ("and if they still say no", "refused"),
        ("how long does it take to get one", "when"),
        ("how do I get one for my son?", "how"),
        ("who do I talk to about that", "who"),
        ("ok and then what", "next"),
        ("what is a senco", None),
    ],
)
def test_follow_up_kinds(text, kind):
    assert follow_up_kind(text) == kind


def test_a_long_message_is_never_a_follow_up():
    long = "what if they refuse " + "and the school keeps saying the same thing " * 3
    assert follow_up_kind(long) is None
    assert not leans_on_context(long)


def test_pronouns_and_openings_lean_on_the_last_answer_but_whole_words_only():
    assert leans_on_context("how do I get one?")
    assert leans_on_context("what if they refuse")
    assert not leans_on_context("what is an educational psychologist")
    assert not leans_on_context("is someone at school in charge of sen")


def test_a_correction_gives_what_the_parent_meant():
    assert correction("sorry, I meant the speech therapist") == "the speech therapist"
    assert correction("no sorry i meant the assessment bit") == "the assessment bit"
    assert correction("what is a senco") is None


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("my son is 17 and at college", "post-16"),
        ("DD is 3 and at nursery", "early-years"),
        ("he's in year 12 now", "post-16"),
        ("my 8 year old", "school"),
        ("she's in year 4", "school"),
        ("she goes to sixth form", "post-16"),
        ("what is a senco", None),
    ],
)
def test_the_childs_stage(text, stage):
    assert child_stage(text) == stage


def test_the_phrases_file_is_checked(tmp_path: Path):
    bad = tmp_path / "understanding.yml"
    bad.write_text("question_starts: [what]\nfollow_ups:\n  sometime: [later]\n")
    with pytest.raises(understanding.UnderstandingError) as error:
        understanding.load(bad)
    assert "sometime" in str(error.value)
    assert "asking_phrases" in str(error.value)
