"""Reading grades: every text a parent reads is checked by `python -m bot validate` (issue 15)."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from bot.assistant import readability, replies
from tests.unit.test_knowledge import edit_article

ROOT = Path(__file__).resolve().parents[2]

HARD = (
    "Notwithstanding the aforementioned considerations, the educational establishment's "
    "institutional responsibilities regarding individualised provision necessitate comprehensive "
    "multidisciplinary consultation."
)
# The guidance's own words: supported by the article's quotes, but too hard for grade 7.
HARD_SENCO = (
    "They have day to day responsibility for how children with SEN are supported within a school "
    "and to co-ordinate the specific provision for individual pupils."
)
HARD_MEETINGS = (
    "These meetings should allow sufficient time for you to express your views, and to discuss "
    "and plan effectively, meaning they would be longer than most parent-teacher meetings."
)


def validate(knowledge_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "validate", "--knowledge", str(knowledge_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_every_answer_summary_and_detail_is_grade_7_or_below_and_the_median_answer_6(kb):
    grades = readability.article_grades(kb)
    assert len({g.where.split(":")[0] for g in grades}) == 29
    assert [g for g in grades if g.grade > readability.MAX_GRADE] == []
    answers = [g.grade for g in grades if g.where.endswith(": answer")]
    assert statistics.median(answers) <= readability.MAX_MEDIAN_GRADE


def test_every_reply_a_parent_reads_is_grade_7_or_below():
    grades = readability.reply_grades(replies.read())
    assert {"introduction.welcome", "safeguarding.reply", "callback.privacy"} <= {
        g.where for g in grades
    }
    assert not any(g.where.startswith(("adviser.", "cases.")) for g in grades)
    assert [g for g in grades if g.grade > readability.MAX_GRADE] == []


def test_a_line_is_read_as_a_sentence_and_placeholders_are_left_out():
    assert readability.as_read("Ask:\n- the teacher\n- the SENCO.\n{reference}") == (
        "Ask:. the teacher. the SENCO."
    )
    assert readability.grade("Call {hours} now.") == readability.grade("Call now.")


def test_a_hard_answer_fails_validation_naming_the_article(knowledge_copy):
    edit_article(knowledge_copy, "senco", answer=HARD_SENCO)
    result = validate(knowledge_copy)
    assert result.returncode == 1
    assert "senco: answer: reading grade" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_hard_summary_or_detail_fails_too(knowledge_copy):
    edit_article(knowledge_copy, "meetings", summary=HARD_MEETINGS, detail=HARD_MEETINGS)
    result = validate(knowledge_copy)
    assert result.returncode == 1
    assert "meetings: summary: reading grade" in result.stderr
    assert "meetings: detail: reading grade" in result.stderr


def test_a_median_above_6_fails_even_when_no_answer_is_above_7():
    grades = [readability.Grade(f"a{n}: answer", 6.5) for n in range(5)]
    grades += [readability.Grade(f"a{n}: summary", 3.0) for n in range(5)]
    [problem] = readability.problems(grades, "articles", median_of_answers=True)
    assert problem.startswith("articles: median answer reading grade 6.5, above 6")
    assert readability.problems(grades, "articles") == []
    easier = [readability.Grade("a9: answer", 2.0), readability.Grade("a8: answer", 3.0)]
    assert readability.median_answer_grade(grades + easier * 3) <= readability.MAX_MEDIAN_GRADE


def test_a_hard_reply_fails_and_an_advisers_reply_is_not_graded(knowledge_copy):
    path = knowledge_copy / "replies.yml"
    data = yaml.safe_load(path.read_text())
    data["adviser"]["server_error"] = HARD
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert validate(knowledge_copy).returncode == 0
    data["smalltalk"]["thanks"] = HARD
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = validate(knowledge_copy)
    assert result.returncode == 1
    assert "replies.yml: smalltalk.thanks: reading grade" in result.stderr


def test_validate_reports_the_grades_and_the_median():
    result = subprocess.run(
        [sys.executable, "-m", "bot", "validate"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Reading grades (Flesch-Kincaid)" in result.stdout
    assert "median answer" in result.stdout
    assert "speech-language-therapist: answer" in result.stdout
