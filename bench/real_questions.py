"""Real parents' questions (tests/real_questions/*.tsv) and the conversation sets
(tests/conversations/*.yml): loading, the train / dev / test split, and scoring.

Each real question keeps the URL it came from. The split is by source page: every question from
one page lands in the same split, so a page's wording never sits on both sides. Which page is in
which split is decided once, by a hash of its URL, and written to tests/real_questions/splits.yml
(``python -m bench.real_questions split``); a page added later is assigned when that command is
run again, and no page ever moves. Questions collected after the split only to train on live in
``train_*.tsv`` files: their pages go to train, so dev and test stay as measured. Only the train
split may be added to the NLU training data (``python -m bench.real_questions train-data`` writes
data/nlu/real_questions_train.yml, each example with its source URL beside it); dev is for
calibration; test is only reported.

    PYTHONPATH=. .venv/bin/python -m bench.real_questions split|train-data|stats
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.settings import ROOT

REAL_DIR = ROOT / "tests" / "real_questions"
SPLITS = REAL_DIR / "splits.yml"
CONVERSATIONS_DIR = ROOT / "tests" / "conversations"
TRAIN_DATA = ROOT / "data" / "nlu" / "real_questions_train.yml"
SPLIT_SHARES = (("train", 0.5), ("dev", 0.2), ("test", 0.3))
BEYOND_PREFIX = "beyond:"
# Pages whose "questions" turned out not to be parents' own (search-engine suggestions).
EXCLUDED_SOURCES = ("healthfitnessmontana.info",)
# Pages that only retell a question found on another page are kept with that page's split.
MAX_TRAINING_WORDS = 80


@dataclass(frozen=True)
class RealQuestion:
    text: str
    acceptable: tuple[str, ...]  # article ids, best first; empty for beyond-guidance
    beyond: str | None  # the beyond-guidance topic (out_*, or "other"), or None
    source: str
    file: str


def _clean(text: str) -> str:
    return " ".join(text.split())


def load_questions(directory: Path = REAL_DIR) -> list[RealQuestion]:
    questions: list[RealQuestion] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                text = _clean(row.get("text") or "")
                expected = (row.get("expected") or "").split()
                source = (row.get("source") or "").strip()
                if not text or not expected or not source:
                    continue
                if any(bad in source for bad in EXCLUDED_SOURCES):
                    continue
                key = text.lower()
                if key in seen or "safeguarding" in expected:
                    continue
                seen.add(key)
                beyond = next(
                    (e[len(BEYOND_PREFIX) :] for e in expected if e.startswith(BEYOND_PREFIX)),
                    None,
                )
                articles = tuple(e for e in expected if not e.startswith(BEYOND_PREFIX))
                questions.append(
                    RealQuestion(text, () if beyond else articles, beyond, source, path.name)
                )
    return questions


def _hashed_split(source: str) -> str:
    value = int(hashlib.sha256(source.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    total = 0.0
    for name, share in SPLIT_SHARES:
        total += share
        if value <= total:
            return name
    return SPLIT_SHARES[-1][0]


def load_splits(path: Path = SPLITS) -> dict[str, str]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {url: name for name, urls in data.items() for url in urls or []}


# Questions collected later, only to train on: tests/real_questions/train_*.tsv.
TRAIN_ONLY_PREFIX = "train_"


def assign_splits(questions: list[RealQuestion], path: Path = SPLITS) -> dict[str, str]:
    """Keep every page's split; give each new page one by its URL's hash, except pages first
    found in a ``train_*.tsv`` file (collected after the split, to train on): those go to train,
    so the dev and test splits stay as they were measured."""
    splits = load_splits(path)
    for question in questions:
        if question.file.startswith(TRAIN_ONLY_PREFIX):
            splits.setdefault(question.source, "train")
        splits.setdefault(question.source, _hashed_split(question.source))
    grouped: dict[str, list[str]] = {name: [] for name, _ in SPLIT_SHARES}
    for url, name in sorted(splits.items()):
        grouped[name].append(url)
    header = (
        "# Which source page is in which split of the real questions. Written by\n"
        "# `python -m bench.real_questions split`; a page never moves once assigned.\n"
        "# train: may go into the NLU training data. dev: calibration. test: reported only.\n"
    )
    path.write_text(header + yaml.safe_dump(grouped, sort_keys=False, width=200), "utf-8")
    return splits


def split_of(questions: list[RealQuestion], name: str) -> list[RealQuestion]:
    splits = load_splits()
    return [q for q in questions if splits.get(q.source) == name]


def write_training_data(questions: list[RealQuestion], path: Path = TRAIN_DATA) -> int:
    """The train split as Rasa NLU examples, one intent block per label, each with its URL."""
    from bot.contract import intent_for_article

    by_intent: dict[str, list[RealQuestion]] = {}
    for question in split_of(questions, "train"):
        if len(question.text.split()) > MAX_TRAINING_WORDS:
            continue
        if question.beyond and question.beyond != "other":
            intent = question.beyond
        elif question.acceptable:
            intent = intent_for_article(question.acceptable[0])
        else:
            continue
        by_intent.setdefault(intent, []).append(question)
    lines = [
        "# Real parents' questions from the TRAIN split only (tests/real_questions, split by",
        "# source page in tests/real_questions/splits.yml). Generated by",
        "# `python -m bench.real_questions train-data`; do not edit by hand. Each example's",
        "# source page is in the comment above it.",
        'version: "3.1"',
        "nlu:",
    ]
    count = 0
    for intent in sorted(by_intent):
        lines += [f"  - intent: {intent}", "    examples: |"]
        for question in by_intent[intent]:
            text = question.text.replace("[", "(").replace("]", ")")
            lines += [f"      # {question.source}", f"      - {text}"]
            count += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return count


# --- the conversation sets -------------------------------------------------------------------


@dataclass(frozen=True)
class MultiMessage:
    text: str
    parts: tuple[tuple[str, ...], ...]  # per part: acceptable article ids or beyond:topic
    source: str


@dataclass(frozen=True)
class ConversationTurn:
    text: str
    expect: tuple[str, ...]
    stage: str | None = None


@dataclass(frozen=True)
class Conversation:
    name: str
    kind: str
    turns: tuple[ConversationTurn, ...] = field(default_factory=tuple)


def load_multi(name: str, directory: Path = CONVERSATIONS_DIR) -> list[MultiMessage]:
    path = directory / f"multi_{name}.yml"
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [
        MultiMessage(
            _clean(str(m["text"])),
            tuple(tuple(str(p).split()) for p in m.get("parts") or []),
            str(m.get("source") or "written"),
        )
        for m in data.get("messages") or []
    ]


def load_conversations(name: str, directory: Path = CONVERSATIONS_DIR) -> list[Conversation]:
    path = directory / f"followups_{name}.yml"
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [
        Conversation(
            str(c.get("name") or ""),
            str(c.get("kind") or ""),
            tuple(
                ConversationTurn(
                    _clean(str(t["text"])),
                    tuple(str(t.get("expect") or "").split()),
                    t.get("stage"),
                )
                for t in c.get("turns") or []
            ),
        )
        for c in data.get("conversations") or []
    ]


# --- scoring ---------------------------------------------------------------------------------


def real_passed(question: RealQuestion, slots: dict[str, Any]) -> bool:
    route = slots.get("route")
    if question.beyond:
        return route == "escalate" or bool(slots.get("escalated_topics"))
    return route == "answer" and slots.get("kb_article") in question.acceptable


def outcome_matches(expect: tuple[str, ...], slots: dict[str, Any]) -> bool:
    """Whether a turn's slots show one of the acceptable outcomes."""
    route = slots.get("route")
    articles = [slots.get("kb_article")] if slots.get("kb_article") else []
    escalated = list(slots.get("escalated_topics") or [])
    for option in expect:
        if option == "clarify" and route == "clarify":
            return True
        if option.startswith("more:") and route == "answer" and articles[:1] == [option[5:]]:
            return True
        if option.startswith(BEYOND_PREFIX):
            topic = option[len(BEYOND_PREFIX) :]
            if route == "escalate" or escalated:
                if topic in ("any", "other") or topic in escalated or not escalated:
                    return True
        if route == "answer" and articles[:1] == [option]:
            return True
    return False


def part_addressed(part: tuple[str, ...], slots: dict[str, Any]) -> bool:
    answered = set(slots.get("kb_articles") or [])
    if slots.get("kb_article"):
        answered.add(slots["kb_article"])
    escalated = list(slots.get("escalated_topics") or [])
    for option in part:
        if option.startswith(BEYOND_PREFIX):
            topic = option[len(BEYOND_PREFIX) :]
            if topic in escalated or (topic in ("any", "other") and escalated):
                return True
            if slots.get("route") == "escalate" and not escalated:
                return True
        elif option in answered:
            return True
    return False


def stats(questions: list[RealQuestion]) -> dict[str, Any]:
    splits = load_splits()
    counts: Counter = Counter()
    for q in questions:
        counts[(splits.get(q.source, "unassigned"), "beyond" if q.beyond else "in-guidance")] += 1
    return {f"{s} {k}": n for (s, k), n in sorted(counts.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("split", "train-data", "stats"))
    args = parser.parse_args(argv)
    questions = load_questions()
    if args.command == "split":
        assign_splits(questions)
        print(f"{len(questions)} questions from {len({q.source for q in questions})} pages")
    elif args.command == "train-data":
        print(f"{write_training_data(questions)} training examples written to {TRAIN_DATA}")
    for line, count in stats(questions).items():
        print(f"  {line}: {count}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
