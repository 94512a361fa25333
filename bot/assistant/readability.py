"""How hard the assistant's words are to read: the Flesch-Kincaid grade of what parents see.

Parents of children with SEN include parents who read with difficulty, in a second language, or on
a phone late at night; the service aims at a reading age of 9 to 11 (grade 6 or below). The grade
is textstat's ``flesch_kincaid_grade`` of the text as a parent sees it: each line is read as a
sentence of its own (a bullet point or a line without a full stop ends where the line ends, as it
does for the reader), list markers are left out, and ``{placeholders}`` are left out because the
code fills them in. ``python -m bot validate`` reports every grade and fails when one is above
``MAX_GRADE`` or the median article answer is above ``MAX_MEDIAN_GRADE``.

Only the validator imports this module (textstat is not needed to answer a parent).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

import textstat

from bot.assistant.knowledge import KnowledgeBase

MAX_GRADE = 7.0  # no answer, summary, detail or reply a parent reads above this
MAX_MEDIAN_GRADE = 6.0  # the median article answer at most this: a reading age of 9 to 11
ARTICLE_FIELDS = ("answer", "summary", "detail")
# Replies read by advisers, not parents, and escalate.topics (phrases inside another reply).
NOT_FOR_PARENTS = ("cases.", "adviser.", "escalate.topics")
# A reading grade means nothing for a label of a few words ("An adviser", a button title): its
# one long word gives grade 9. Texts shorter than this are not graded.
MIN_WORDS = 4

_LIST_MARKER = re.compile(r"^\s*(?:[-•*]|\d+[.)])\s+")
_PLACEHOLDER = re.compile(r"\{[a-z_][a-z_.]*\}")


@dataclass(frozen=True)
class Grade:
    where: str  # "article-id: field" or "group.key"
    grade: float


def as_read(text: str) -> str:
    """The text as sentences: one per line at least, list markers and placeholders left out."""
    sentences = []
    for line in text.splitlines():
        line = _PLACEHOLDER.sub("", _LIST_MARKER.sub("", line)).strip()
        if not line:
            continue
        sentences.append(line if line[-1] in ".?!" else line + ".")
    return " ".join(sentences)


def grade(text: str) -> float:
    """The Flesch-Kincaid grade of ``text`` as a parent reads it (see the module docstring)."""
    read = as_read(text)
    return round(float(textstat.flesch_kincaid_grade(read)), 1) if read else 0.0


def article_grades(kb: KnowledgeBase) -> list[Grade]:
    """The grade of every article's answer, summary and detail (when it has one)."""
    found = []
    for article in kb.articles.values():
        for name in ARTICLE_FIELDS:
            text = getattr(article, name)
            if text:
                found.append(Grade(f"{article.id}: {name}", grade(text)))
    return found


def reply_grades(flat: dict[str, object]) -> list[Grade]:
    """The grade of every reply a parent reads (``flat`` as ``replies.read`` gives it)."""
    return [
        Grade(key, grade(value))
        for key, value in flat.items()
        if isinstance(value, str)
        and not key.startswith(NOT_FOR_PARENTS)
        and len(as_read(value).split()) >= MIN_WORDS
    ]


def median_answer_grade(grades: list[Grade]) -> float:
    answers = [g.grade for g in grades if g.where.endswith(": answer")]
    return round(statistics.median(answers), 1) if answers else 0.0


def problems(grades: list[Grade], source: str, median_of_answers: bool = False) -> list[str]:
    """Each grade above MAX_GRADE, and the median answer above MAX_MEDIAN_GRADE, named."""
    found = [
        f"{source}: {g.where}: reading grade {g.grade:.1f}, above {MAX_GRADE:.0f} "
        "(shorter sentences, everyday words, an acronym explained once)"
        for g in grades
        if g.grade > MAX_GRADE
    ]
    if median_of_answers:
        median = median_answer_grade(grades)
        if median > MAX_MEDIAN_GRADE:
            found.append(
                f"{source}: median answer reading grade {median:.1f}, above "
                f"{MAX_MEDIAN_GRADE:.0f} (rewrite the hardest answers first)"
            )
    return found
