"""Reading a parent's message as parents write it: the parts that ask something, follow-ups that
lean on the conversation so far, corrections, and what the parent says about the child's stage.

Pure logic over text, with no model: the NLU component (bot/plugins/nlu.py) uses ``asking_parts``
to classify each question in a long message, and the responder uses the rest with the
conversation's context (docs/architecture.md, "Understanding a message"). The phrases each check
looks for are data in knowledge/understanding.yml, so they can be extended without code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.settings import ROOT

PATH = ROOT / "knowledge" / "understanding.yml"
FOLLOW_UP_KINDS = ("more", "refused", "when", "how", "who", "next")
STAGES = ("early-years", "school", "post-16")
MAX_PARTS = 3


class UnderstandingError(Exception):
    """knowledge/understanding.yml is missing something the code needs."""


@dataclass(frozen=True)
class Vocabulary:
    question_starts: tuple[str, ...]
    asking_phrases: tuple[str, ...]
    clause_breaks: tuple[str, ...]
    anaphora: tuple[str, ...]
    connectives: tuple[str, ...]
    corrections: tuple[str, ...]
    follow_ups: dict[str, tuple[str, ...]]
    stages: dict[str, tuple[str, ...]]


def _phrases(data: dict, key: str, problems: list[str]) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{PATH}: {key}: must be a list of phrases")
        return ()
    # Kept as the words the checks compare ("post-16" -> "post 16"), so no message pays for it.
    return tuple(" ".join(_words(v)) for v in value)


def load(path: Path = PATH) -> Vocabulary:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    problems: list[str] = []
    plain = {
        key: _phrases(data, key, problems)
        for key in (
            "question_starts",
            "asking_phrases",
            "clause_breaks",
            "anaphora",
            "connectives",
            "corrections",
        )
    }
    groups = {}
    for group, names in (("follow_ups", FOLLOW_UP_KINDS), ("stages", STAGES)):
        section = data.get(group) or {}
        unknown = set(section) - set(names)
        if unknown:
            problems.append(f"{path}: {group}: unknown keys {sorted(unknown)} (known: {names})")
        groups[group] = {name: _phrases(section, name, problems) for name in names}
    if problems:
        raise UnderstandingError("\n".join(problems))
    return Vocabulary(**plain, **groups)


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    return load()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _has_phrase(text: str, phrases: tuple[str, ...]) -> bool:
    """A phrase counts only as whole words ("one" is not in "someone")."""
    padded = " " + " ".join(_words(text)) + " "
    return any(f" {phrase} " in padded for phrase in phrases)


# --- the parts of a message --------------------------------------------------------------------

# Joining words a clause may open with before its question ("and also who is the SENCO").
_LEADING = {"and", "also", "but", "so", "plus", "then", "or", "oh", "ok", "okay", "well"}

_TRAILING = re.compile(r"[\s,;]+(?:and|or|also|but|so)\s*$", re.I)

_SENTENCE_END = re.compile(r"(?<=[?!.])\s+|\n+|(?<=\?)(?=\S)")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def asks(part: str, vocab: Vocabulary | None = None) -> bool:
    """Whether a sentence or clause asks something (with or without a question mark)."""
    vocab = vocab or vocabulary()
    stripped = part.strip()
    if stripped.endswith("?"):
        return True
    if _has_phrase(stripped, vocab.asking_phrases):
        return True
    # "my DD is 17 and at college, what should they do": a question after a comma counts.
    for segment in re.split(r"[,;:]|\s-\s", stripped):
        words = _words(segment)
        while words and words[0] in _LEADING:
            words = words[1:]
        if words and (
            words[0] in vocab.question_starts or " ".join(words[:2]) in vocab.question_starts
        ):
            return True
    return False


def _clauses(sentence: str, vocab: Vocabulary) -> list[str]:
    """A sentence split where a new question starts: "..., and also can they ...", "what about"."""
    pieces = [sentence]
    for marker in vocab.clause_breaks:
        pattern = re.compile(rf"(?:,|;|\s)\s*(?={re.escape(marker)}\b)", re.I)
        next_pieces = []
        for piece in pieces:
            cut = [p for p in pattern.split(piece) if p.strip()]
            # Only keep a cut when every side still says something.
            if len(cut) > 1 and all(len(_words(p)) >= 3 for p in cut):
                next_pieces += cut
            else:
                next_pieces.append(piece)
        pieces = next_pieces
    return [_TRAILING.sub("", p.strip(" ,;")) for p in pieces]


def asking_parts(text: str, vocab: Vocabulary | None = None) -> list[str]:
    """The sentences and clauses of a message that ask something, in order (background left out).

    A clause that only asks because of the sentence it came from ("and what about the EP?") is
    kept as it is: the classifier sees each part beside the whole message.
    """
    vocab = vocab or vocabulary()
    parts: list[str] = []
    for sentence in _sentences(text):
        clauses = _clauses(sentence, vocab)
        asking = [c for c in clauses if asks(c, vocab)]
        if len(clauses) > 1 and asking:
            parts += asking
        elif asks(sentence, vocab):
            parts.append(sentence)
    return [p for p in parts if len(_words(p)) >= 2]


# --- follow-ups -------------------------------------------------------------------------------


def follow_up_kind(text: str, vocab: Vocabulary | None = None) -> str | None:
    """What a short follow-up asks of the last answer: more, refused, when, how, who or next."""
    vocab = vocab or vocabulary()
    if len(_words(text)) > 14:
        return None
    for kind in FOLLOW_UP_KINDS:
        if _has_phrase(text, vocab.follow_ups[kind]):
            return kind
    return None


def leans_on_context(text: str, vocab: Vocabulary | None = None) -> bool:
    """A short message that only makes sense after the last answer: a pronoun standing for the
    last topic ("how do I get one"), or an opening that continues it ("what if", "and if")."""
    vocab = vocab or vocabulary()
    words = _words(text)
    if not words or len(words) > 14:
        return False
    if _has_phrase(text, vocab.anaphora):
        return True
    opening = " ".join(words[:2])
    return any(opening.startswith(c) for c in vocab.connectives)


def correction(text: str, vocab: Vocabulary | None = None) -> str | None:
    """The corrected request in "sorry, I meant the speech therapist", or None."""
    vocab = vocab or vocabulary()
    lowered = " ".join(_words(text))
    for marker in sorted(vocab.corrections, key=len, reverse=True):
        index = f" {lowered} ".find(f" {marker} ")
        if index >= 0:
            rest = lowered[index + len(marker) :].strip()
            return rest or None
    return None


# --- the child's stage ------------------------------------------------------------------------

_AGE = re.compile(
    r"\b(?:is|he's|she's|they're|turned|turning|aged?|now)\s+(\d{1,2})\b|\b(\d{1,2})\s*(?:yo|y/o|years?\s+old|yrs?\s+old)\b",
    re.I,
)
_YEAR_GROUP = re.compile(r"\b(?:year|yr|y)\s?(\d{1,2})\b", re.I)


def child_stage(text: str, vocab: Vocabulary | None = None) -> str | None:
    """The child's stage if the message says it: by age, school year or setting."""
    vocab = vocab or vocabulary()
    for match in _AGE.finditer(text):
        age = int(match.group(1) or match.group(2))
        if 1 <= age <= 4:
            return "early-years"
        if 5 <= age <= 15:
            return "school"
        if 16 <= age <= 25:
            return "post-16"
    for match in _YEAR_GROUP.finditer(text):
        year = int(match.group(1))
        if 12 <= year <= 13:
            return "post-16"
        if 1 <= year <= 11:
            return "school"
    for stage in ("post-16", "early-years", "school"):
        if _has_phrase(text, vocab.stages[stage]):
            return stage
    return None
