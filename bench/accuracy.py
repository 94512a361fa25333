"""Benchmark: how well and how fast the assistant answers, beside a plain BM25 baseline.

    PYTHONPATH=. RASA_TELEMETRY_ENABLED=false .venv/bin/python -m bench.accuracy [--skip-training]

Trains a fresh model (unless --skip-training), starts the Rasa and action servers on ports that
don't clash with a development server (unless --url is given), sends every benchmark question as
the first message of a new conversation and reads the route the assistant took from the tracker.
Writes bench.json and bench.md to --out and prints the table. Missing a target still exits 0 (it
is a measurement); a model that won't train or servers that won't start exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import cycle
from pathlib import Path
from typing import Any

import yaml

from bench import real_questions as real
from bench.baseline import Bm25Baseline, Passage, answers_from
from bot.assistant import knowledge
from bot.assistant.responder import BEYOND_GUIDANCE_TOPICS, INTRODUCTION
from bot.contract import article_for_intent
from bot.settings import ROOT, load_settings

HELDOUT = ROOT / "tests" / "nlu_heldout.yml"
# Safeguarding sets, each written by someone who had not seen the checks at the time: "first",
# "dev", "dev2" and "dev3" were then used to broaden and tune the checks. "unseen" and "unseen2"
# had their misses printed in reports, and since issue 14's trained risk classifier they are
# training examples too (knowledge/safeguarding/tuning-examples.yml, bench/safeguarding_eval.py).
# So "unseen3" (written for issue 14 without sight of the checks or the other sets) is the honest
# measure, and never a training example. When an unseen set's misses are
# used to improve the checks, rename it to the next "devN" and commission a new unseen set.
SAFEGUARDING_SETS = {
    "first": ROOT / "tests" / "bench" / "safeguarding.yml",
    "dev": ROOT / "tests" / "bench" / "safeguarding_dev.yml",
    "dev2": ROOT / "tests" / "bench" / "safeguarding_dev2.yml",
    "dev3": ROOT / "tests" / "bench" / "safeguarding_dev3.yml",
    "unseen": ROOT / "tests" / "bench" / "safeguarding_unseen.yml",
    "unseen2": ROOT / "tests" / "bench" / "safeguarding_unseen2.yml",
    "unseen3": ROOT / "tests" / "bench" / "safeguarding_unseen3.yml",
}
HONEST_SAFEGUARDING_SET = "unseen3"
SAFEGUARDING_SET_USE = {
    "first": "used to tune",
    "dev": "used to tune",
    "dev2": "used to tune",
    "dev3": "used to tune",
    "unseen": "used to tune",
    "unseen2": "used to tune",
    "unseen3": "never trained on; scored once before the last change: the nearest to honest",
}
BAD_INPUT_SET = ROOT / "tests" / "bench" / "bad_input.yml"
DEFAULT_MODEL = ROOT / "models" / "sen-assistant.tar.gz"

IN_GUIDANCE = "in-guidance"
BEYOND = "beyond-guidance"
SAFEGUARDING = "safeguarding"
NOT_SAFEGUARDING = "not-safeguarding"
BAD_INPUT = "bad input"

# What a run can measure (--only).
SECTIONS = (
    "heldout",
    "safeguarding",
    "bad-input",
    "concurrency",
    "real",
    "multi",
    "followups",
    "length",
)
REQUEST_TIMEOUT = 30.0  # seconds, for every HTTP request
TRAINING_TIMEOUT = 1800.0
CONCURRENT_CONVERSATIONS = 8
WARM_UP_MESSAGES = (
    "hello",
    "what is a senco",
    "can my child get free transport to school",
    "what does sen support mean",
    "thanks",
)
FOLLOW_UP = "what is a senco"  # asked after each bad input, to check the server still answers
LONG_MESSAGE_MARKER = "__5000_CHARS__"
LONG_MESSAGE_LENGTH = 5000
SHOWN_CHARACTERS = 200

TARGETS = {
    "answered_from_acceptable": ">= 90%",
    "beyond_escalated": ">= 90%",
    "in_guidance_escalated": "<= 5%",
    "safeguarding_recall": "100%",
    "latency_one_conversation": "p95 <= 150 ms",
    "training": "<= 180 s",
    "real_answered": ">= 90%",
    "real_beyond": ">= 90%",
    "real_in_escalated": "<= 5%",
    "followups": ">= 85%",
    "multi": ">= 80%",
    "latency_ratio": "p95 <= 1.6x the bare bot's",
    "length_150_words": "p95 <= 1.5x the 5-word message's",
    "length_4000_chars": "p95 <= 2x the 5-word message's",
    "length_neighbour": "p95 <= 1.5x the same parent's alone",
}
# The cost of a message by its length (issue 16): short messages, 150-word messages and
# 4,000-character messages (the widget's limit) sent in turn in one run, then one parent's short
# messages alone and while another parent sends 4,000-character messages at the rate limit.
LENGTH_ROUNDS = 20
NEIGHBOUR_MESSAGES = 40
NEIGHBOUR_GAP = 0.25  # seconds between the short-message parent's messages
RATE_LIMIT_GAP = 3.0  # SEN_RATE_LIMIT's default, 20 messages a minute

PARENT_SENTENCES = (
    "Hi, sorry this is going to be a long message but I wanted to put everything in one place.",
    "My son is eight and in year 3 at our local primary school.",
    "He has always found reading and writing much harder than the other children in his class.",
    "His teacher says he is a lovely boy who tries hard but he is still on the early reading "
    "books and gets very tired and frustrated by the afternoon.",
    "At home he is a different child, he builds amazing things with lego and can talk for "
    "hours about trains, but as soon as homework comes out he shuts down.",
    "Last year the school said they would keep an eye on him and that some children just "
    "click later than others.",
    "This year he has been taken out of class for a small reading group twice a week, which "
    "he enjoys, but nobody has explained to me what the plan actually is.",
    "I asked at parents evening whether he has special educational needs and the teacher "
    "said I would need to speak to someone else about that.",
    "I work shifts so it is hard for me to get into school during the day, and I never know "
    "who I am supposed to email.",
    "His dad thinks I am worrying too much but I can see his confidence dropping every week.",
    "I have read a bit online about SEN support and plans and reviews but it is a lot of "
    "jargon and I do not want to go in all guns blazing.",
    "I just want to understand what he is entitled to and how I can work with the school.",
)
LONG_MESSAGE_CLOSING = (
    " So my question is, what should the school be doing for him and who do I talk to?"
)


# --- questions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    kind: str  # IN_GUIDANCE, BEYOND, SAFEGUARDING, NOT_SAFEGUARDING or BAD_INPUT
    text: str
    expected: str  # the acceptable article id for in-guidance questions, else what must happen
    source: str = ""  # which safeguarding set a safeguarding question came from


_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def example_text(line: str) -> str:
    """One Rasa NLU example line ("- text", maybe with [entity](label) markup) as plain text."""
    return _ANNOTATION.sub(r"\1", line.strip().removeprefix("-").strip())


def nlu_examples(path: Path) -> dict[str, list[str]]:
    """Intent name -> example texts, from a Rasa NLU YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples: dict[str, list[str]] = {}
    for block in data.get("nlu") or []:
        if not isinstance(block, dict) or "intent" not in block:
            continue
        lines = str(block.get("examples") or "").splitlines()
        texts = [example_text(line) for line in lines if line.strip().startswith("-")]
        examples.setdefault(block["intent"], []).extend(texts)
    return examples


def heldout_questions(path: Path = HELDOUT) -> list[Question]:
    """kb_* examples are in-guidance; the beyond-guidance topics' examples must be escalated.

    ``out_of_scope`` (weather, pizza) is not a beyond-guidance topic, so it is not counted.
    """
    questions: list[Question] = []
    for intent, texts in nlu_examples(path).items():
        if article_for_intent(intent):
            questions += [Question(IN_GUIDANCE, t, article_for_intent(intent)) for t in texts]
        elif intent in BEYOND_GUIDANCE_TOPICS:
            questions += [Question(BEYOND, t, "escalate") for t in texts]
    return questions


def safeguarding_questions(sets: dict[str, Path] = SAFEGUARDING_SETS) -> list[Question]:
    questions: list[Question] = []
    for name, path in sets.items():
        if not path.exists():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        questions += [
            Question(SAFEGUARDING, str(t), "safeguarding", name) for t in data.get("messages") or []
        ]
        questions += [
            Question(NOT_SAFEGUARDING, str(t), "not safeguarding", name)
            for t in data.get("not_safeguarding") or []
        ]
    return questions


def long_parent_message(length: int = LONG_MESSAGE_LENGTH) -> str:
    """A rambling parent message of exactly ``length`` characters, ending in a question."""
    room = length - len(LONG_MESSAGE_CLOSING)
    body = ""
    for word in cycle(" ".join(PARENT_SENTENCES).split()):
        if len(body) + 1 + len(word) > room:
            break
        body = f"{body} {word}" if body else word
    return body + "." * (room - len(body)) + LONG_MESSAGE_CLOSING


def bad_input_questions(path: Path = BAD_INPUT_SET) -> list[Question]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    texts = ["" if t is None else str(t) for t in data.get("messages") or []]
    return [
        Question(BAD_INPUT, long_parent_message() if t == LONG_MESSAGE_MARKER else t, "a reply")
        for t in texts
    ]


# --- talking to the server -------------------------------------------------------------------


@dataclass
class Outcome:
    status: int  # HTTP status; 0 when there was no HTTP reply
    seconds: float
    replies: list[str] = field(default_factory=list)
    route: str | None = None
    article: str | None = None
    error: str | None = None
    still_answers: bool | None = None  # bad input only: did a follow-up message get a reply
    safety_note: bool = False  # the turn added the short safety line (a possible risk)


Result = tuple[Question, Outcome]


def reply_texts(payload: bytes) -> list[str]:
    data = json.loads(payload or b"[]")
    if not isinstance(data, list):
        raise ValueError("the webhook's reply is not a list of messages")
    return [str(m.get("text") or "") for m in data if isinstance(m, dict)]


def own_replies(outcome: Outcome) -> list[str]:
    """The replies to the message itself: not blank, and not the new conversation's greeting."""
    return [t for t in outcome.replies if t.strip() and t.strip() != INTRODUCTION.strip()]


def replied(outcome: Outcome) -> bool:
    return outcome.status == 200 and bool(own_replies(outcome))


@dataclass(frozen=True)
class Client:
    """Talks to Rasa: the REST channel (a server-issued conversation id and token per
    conversation, bot/channels/rest.py) and the HTTP API (a JWT signed with ``secret``)."""

    url: str
    secret: str
    timeout: float = REQUEST_TIMEOUT
    tokens: dict[str, str] = field(default_factory=dict, compare=False)

    def new_conversation(self) -> str:
        """A conversation id issued by the server; its token is kept for ``send``."""
        request = urllib.request.Request(
            f"{self.url}/webhooks/rest/session", data=b"", method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as reply:
            session = json.loads(reply.read())
        self.tokens[session["sender"]] = session["token"]
        return session["sender"]

    def send(self, sender: str, text: str) -> Outcome:
        """POST one message; the time taken is the message's latency, actions included."""
        message = {"sender": sender, "token": self.tokens.get(sender, ""), "message": text}
        body = json.dumps(message).encode()
        request = urllib.request.Request(
            f"{self.url}/webhooks/rest/webhook",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                payload, status = reply.read(), reply.status
            seconds = time.perf_counter() - start
            return Outcome(status, seconds, replies=reply_texts(payload))
        except urllib.error.HTTPError as error:
            return Outcome(error.code, time.perf_counter() - start, error=f"HTTP {error.code}")
        except (OSError, ValueError) as error:  # refused, reset, timed out, not JSON
            return Outcome(0, time.perf_counter() - start, error=f"{type(error).__name__}: {error}")

    def get_json(self, path: str) -> Any:
        from bot.cases.rasa_client import api_headers

        request = urllib.request.Request(self.url + path, headers=api_headers(self.secret))
        with urllib.request.urlopen(request, timeout=self.timeout) as reply:
            return json.loads(reply.read())

    def slots(self, sender: str) -> dict[str, Any]:
        quoted = urllib.parse.quote(sender, safe="")
        tracker = self.get_json(f"/conversations/{quoted}/tracker?include_events=NONE")
        return tracker.get("slots") or {}

    def is_up(self) -> bool:
        try:
            self.get_json("/status")
        except (OSError, ValueError):
            return False
        return True


def read_slots(client: Client, sender: str, outcome: Outcome) -> dict[str, Any]:
    """The slots after a turn that got a reply, with what they say copied onto the outcome."""
    if outcome.status != 200:
        return {}
    try:
        slots = client.slots(sender)
    except (OSError, ValueError) as error:
        outcome.error = f"reading the tracker: {type(error).__name__}: {error}"
        return {}
    outcome.route, outcome.article = slots.get("route"), slots.get("kb_article")
    outcome.safety_note = bool(slots.get("safety_note"))
    return slots


def ask(client: Client, question: Question) -> Outcome:
    """The question as the first message of a new conversation, with the route it took."""
    try:
        sender = client.new_conversation()
    except (OSError, ValueError, KeyError) as error:
        return Outcome(0, 0.0, error=f"starting a conversation: {type(error).__name__}: {error}")
    outcome = client.send(sender, question.text)
    read_slots(client, sender, outcome)
    if question.kind == BAD_INPUT:
        outcome.still_answers = replied(client.send(sender, FOLLOW_UP))
    return outcome


def progress(label: str, done: int, total: int) -> None:
    if sys.stdout.isatty():
        print(f"\r{label} {done}/{total}", end="\n" if done >= total else "", flush=True)
    elif done >= total or done % 25 == 0:
        print(f"{label} {done}/{total}", flush=True)


def ask_all(client: Client, questions: Sequence[Question], label: str) -> list[Result]:
    results: list[Result] = []
    for done, question in enumerate(questions, 1):
        results.append((question, ask(client, question)))
        progress(label, done, len(questions))
    return results


def warm_up(client: Client) -> None:
    for done, text in enumerate(WARM_UP_MESSAGES, 1):
        client.send(client.new_conversation(), text)
        progress("warm-up", done, len(WARM_UP_MESSAGES))


def split_conversations(texts: Sequence[str], count: int) -> list[list[str]]:
    """Deal the texts round-robin into ``count`` conversations."""
    return [list(texts[start::count]) for start in range(count)]


def run_concurrently(client: Client, texts: Sequence[str], count: int) -> list[Outcome]:
    """``count`` conversations at once, each a new sender sending its share of the texts."""
    conversations = split_conversations(texts, count)
    lock, done = threading.Lock(), [0]

    def converse(messages: list[str]) -> list[Outcome]:
        sender, outcomes = client.new_conversation(), []
        for text in messages:
            outcomes.append(client.send(sender, text))
            with lock:
                done[0] += 1
                progress(f"{count} conversations", done[0], len(texts))
        return outcomes

    with ThreadPoolExecutor(max_workers=count) as pool:
        return [o for outcomes in pool.map(converse, conversations) for o in outcomes]


# --- scoring ---------------------------------------------------------------------------------


def passed(question: Question, outcome: Outcome) -> bool:
    """Did the assistant do what the question's kind requires?"""
    if question.kind == IN_GUIDANCE:
        return outcome.route == "answer" and outcome.article == question.expected
    if question.kind == BEYOND:
        return outcome.route == "escalate"
    if question.kind == SAFEGUARDING:
        return outcome.route == "safeguarding"
    if question.kind == NOT_SAFEGUARDING:
        return outcome.status == 200 and outcome.error is None and outcome.route != "safeguarding"
    if question.kind == BAD_INPUT:
        return replied(outcome) and bool(outcome.still_answers)
    raise ValueError(f"unknown kind of question: {question.kind}")


def got(outcome: Outcome) -> str:
    """What the assistant did, in a few words, for the failures list."""
    if outcome.error:
        return outcome.error
    if outcome.still_answers is False:
        return "the server did not answer the next message"
    if outcome.status == 200 and not replied(outcome):
        return f"no reply text (route {outcome.route})"
    if outcome.route == "answer":
        return f"answer: {outcome.article}"
    return outcome.route or "no route recorded"


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100), interpolating between the closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * min(max(p, 0.0), 100.0) / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency(seconds: Sequence[float]) -> dict[str, Any]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "messages": len(seconds),
        "p50_ms": ms(percentile(seconds, 50)),
        "p95_ms": ms(percentile(seconds, 95)),
        "max_ms": ms(max(seconds) if seconds else None),
    }


def fraction(count: int, total: int) -> dict[str, Any]:
    return {"count": count, "total": total, "share": round(count / total, 4) if total else None}


def of_kind(results: Sequence[Result], kind: str) -> list[Result]:
    return [(q, o) for q, o in results if q.kind == kind]


def tally(results: Sequence[Result], test: Callable[[Question, Outcome], bool]) -> dict[str, Any]:
    return fraction(sum(1 for q, o in results if test(q, o)), len(results))


def assistant_metrics(results: Sequence[Result]) -> dict[str, Any]:
    inside = of_kind(results, IN_GUIDANCE)
    return {
        "answered_from_acceptable": tally(inside, passed),
        "answered_from_any": tally(inside, lambda q, o: o.route == "answer" and bool(o.article)),
        "beyond_escalated": tally(of_kind(results, BEYOND), passed),
        "in_guidance_escalated": tally(inside, lambda q, o: o.route == "escalate"),
        "safeguarding_recall": tally(of_kind(results, SAFEGUARDING), passed),
        **{
            f"safeguarding_recall_{name}": tally(
                [(q, o) for q, o in of_kind(results, SAFEGUARDING) if q.source == name], passed
            )
            for name in SAFEGUARDING_SETS
        },
        "safeguarding_false_alarms": tally(
            of_kind(results, NOT_SAFEGUARDING), lambda q, o: o.route == "safeguarding"
        ),
        "safeguarding_by_set": safeguarding_by_set(results),
        "bad_input_passed": tally(of_kind(results, BAD_INPUT), passed),
    }


def safeguarding_by_set(results: Sequence[Result]) -> dict[str, dict[str, Any]]:
    """Per set: risk messages given the full reply, and given at least the short line; look-alikes
    given the full reply, and given the short line."""
    figures = {}
    for name in SAFEGUARDING_SETS:
        risks = [(q, o) for q, o in of_kind(results, SAFEGUARDING) if q.source == name]
        alikes = [(q, o) for q, o in of_kind(results, NOT_SAFEGUARDING) if q.source == name]
        if not risks and not alikes:
            continue
        figures[name] = {
            "use": SAFEGUARDING_SET_USE[name],
            "full": tally(risks, lambda q, o: o.route == "safeguarding"),
            "full_or_line": tally(risks, lambda q, o: o.route == "safeguarding" or o.safety_note),
            "false_full": tally(alikes, lambda q, o: o.route == "safeguarding"),
            "false_line": tally(alikes, lambda q, o: o.route != "safeguarding" and o.safety_note),
        }
    return figures


def shown(text: str) -> str:
    if len(text) <= SHOWN_CHARACTERS:
        return text
    return f"{text[:SHOWN_CHARACTERS]}... ({len(text)} characters)"


def failures(results: Sequence[Result]) -> list[dict[str, str]]:
    return [
        {"kind": q.kind, "text": shown(q.text), "expected": q.expected, "got": got(o)}
        for q, o in results
        if not passed(q, o)
    ]


def bad_input_details(results: Sequence[Result]) -> list[dict[str, Any]]:
    """What each awkward input got, passed or not, so a reader can judge the replies."""
    return [
        {
            "text": shown(q.text),
            "status": o.status,
            "route": o.route,
            "reply": shown(" / ".join(own_replies(o))),
            "still_answers": o.still_answers,
            "passed": passed(q, o),
        }
        for q, o in of_kind(results, BAD_INPUT)
    ]


# --- the BM25 baseline -----------------------------------------------------------------------


def never(total: int, note: str) -> dict[str, Any]:
    """A figure that is 0 by construction for the baseline."""
    return {**fraction(0, total), "share": 0.0, "note": note}


def baseline_metrics(
    kb: knowledge.KnowledgeBase, questions: dict[str, list[Question]]
) -> dict[str, Any]:
    """BM25 on the in-guidance questions. It never escalates and has no safeguarding check."""
    start = time.perf_counter()
    baseline = Bm25Baseline(kb)
    index_seconds = time.perf_counter() - start
    inside = questions[IN_GUIDANCE]
    tops: list[tuple[Question, Passage | None]] = [(q, baseline.top(q.text)) for q in inside]
    hits = [answers_from(kb.articles[q.expected], top) for q, top in tops]
    return {
        "answered_from_acceptable": fraction(sum(hits), len(inside)),
        "answered_from_any": fraction(sum(1 for _, top in tops if top), len(inside)),
        "beyond_escalated": never(len(questions[BEYOND]), "never escalates"),
        "in_guidance_escalated": never(len(inside), "never escalates"),
        "safeguarding_recall": never(len(questions[SAFEGUARDING]), "no safeguarding check"),
        **{
            f"safeguarding_recall_{name}": never(
                sum(1 for q in questions[SAFEGUARDING] if q.source == name), "no check"
            )
            for name in SAFEGUARDING_SETS
        },
        "safeguarding_false_alarms": never(
            len(questions[NOT_SAFEGUARDING]), "no safeguarding check"
        ),
        "index_seconds": round(index_seconds, 3),
        "paragraphs_indexed": len(baseline.passages),
        "misses": [
            {"text": q.text, "expected": q.expected, "got": top.section if top else "nothing"}
            for (q, top), hit in zip(tops, hits, strict=True)
            if not hit
        ],
    }


# --- the run ---------------------------------------------------------------------------------


class BenchError(Exception):
    """The benchmark could not run; the message says what to do."""


def train_model(directory: Path) -> tuple[Path, float]:
    from bot.ops.servers import VENV_BIN, rasa_env

    command = [
        str(VENV_BIN / "rasa"),
        "train",
        "--force",
        "--fixed-model-name",
        "bench",
        "--out",
        str(directory),
    ]
    print(f"Training a fresh model: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    try:
        subprocess.run(command, cwd=ROOT, env=rasa_env(), check=True, timeout=TRAINING_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        raise BenchError(
            f"Training failed ({error}). Run `.venv/bin/rasa train` to see why, or pass "
            "--skip-training to benchmark models/sen-assistant.tar.gz."
        ) from error
    seconds = time.perf_counter() - start
    model = directory / "bench.tar.gz"
    if not model.exists():
        raise BenchError(f"Training finished but wrote no {model}; run `.venv/bin/rasa train`.")
    return model, seconds


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_servers(model: Path, args: argparse.Namespace, directory: Path) -> Any:
    from bot.ops.servers import Servers

    busy = [p for p in (args.rasa_port, args.actions_port) if port_in_use(p)]
    if busy:
        raise BenchError(
            f"Port(s) {', '.join(map(str, busy))} already in use. Stop whatever is using them, "
            "or choose others with --rasa-port/--actions-port."
        )
    servers = Servers(
        model,
        args.rasa_port,
        args.actions_port,
        adviser_port=None,
        data_dir=directory / "data",
        log_dir=Path(args.out) / "logs",
        # The concurrency run sends many messages per conversation back to back, as no parent
        # would, and hundreds of conversations from this one address: measure the assistant,
        # not the rate limits.
        extra_env={"SEN_RATE_LIMIT": "off", "SEN_SESSION_LIMIT": "off"},
    )
    print(f"Starting the servers on ports {args.rasa_port} and {args.actions_port}...", flush=True)
    try:
        return servers.start()
    except RuntimeError as error:
        raise BenchError(
            f"The servers did not start: {error}\nCheck the logs in {Path(args.out) / 'logs'}, "
            "that the model trains (`make train`) and that the knowledge base is valid "
            "(`python -m bot validate`), then run the benchmark again."
        ) from error


def given_secret(args: argparse.Namespace) -> str:
    if args.jwt_secret:
        return args.jwt_secret
    given = load_settings().rasa_jwt_secret
    if given:
        return given
    saved = ROOT / "var" / "rasa-jwt-secret"
    if saved.exists():
        return saved.read_text().strip()
    raise BenchError(
        "--url needs --jwt-secret: the secret Rasa's HTTP API checks JWTs with "
        "(see var/rasa-jwt-secret)."
    )


class DistinctMessages:
    """Parents' messages that never repeat, cut to a length: the encoder keeps recently seen
    texts, so a repeated message would time a cache, not the assistant. Made from the real
    questions' words in order (tests/real_questions), each message starting where the last one
    stopped."""

    def __init__(self) -> None:
        from bench.real_questions import load_questions

        self.words = [w for q in load_questions() for w in q.text.split()]
        self.at = 0

    def take(self, words: int | None = None, chars: int | None = None) -> str:
        out: list[str] = []
        size = 0
        while (words is None or len(out) < words) and (chars is None or size < chars):
            word = self.words[self.at % len(self.words)]
            self.at += 1
            out.append(word)
            size += len(word) + 1
        text = " ".join(out)
        return text[:chars] if chars else text


def measure_length(client: Client) -> dict[str, Any]:
    """p95 latency by message length, and one parent's p95 with and without a neighbour sending
    4,000-character messages at the rate limit; all in this run, so the ratios compare like with
    like."""
    import threading

    messages = DistinctMessages()
    kinds = {
        "5_words": lambda: messages.take(words=5),
        "150_words": lambda: messages.take(words=150),
        "4000_chars": lambda: messages.take(chars=4000),
    }
    seconds: dict[str, list[float]] = {name: [] for name in kinds}
    for i in range(LENGTH_ROUNDS):
        for name, text in kinds.items():
            outcome = client.send(client.new_conversation(), text())
            seconds[name].append(outcome.seconds)
        progress("message length", i + 1, LENGTH_ROUNDS)
    report: dict[str, Any] = {name: latency(values) for name, values in seconds.items()}

    def one_parent(label: str) -> list[float]:
        sender = client.new_conversation()
        values = []
        for i in range(NEIGHBOUR_MESSAGES):
            values.append(client.send(sender, messages.take(words=5)).seconds)
            time.sleep(NEIGHBOUR_GAP)
            progress(label, i + 1, NEIGHBOUR_MESSAGES)
        return values

    report["parent_alone"] = latency(one_parent("one parent alone"))
    stop = threading.Event()

    def neighbour() -> None:
        sender = client.new_conversation()
        while not stop.is_set():
            client.send(sender, messages.take(chars=4000))
            stop.wait(RATE_LIMIT_GAP)

    thread = threading.Thread(target=neighbour, daemon=True)
    thread.start()
    try:
        report["parent_with_neighbour"] = latency(one_parent("one parent, long-message neighbour"))
    finally:
        stop.set()
        thread.join(REQUEST_TIMEOUT)
    return report


def measure(
    client: Client,
    questions: dict[str, list[Question]],
    sections: Sequence[str] = SECTIONS,
    split: str = "test",
) -> dict[str, Any]:
    warm_up(client)
    report: dict[str, Any] = {}
    if "real" in sections:
        report["real"] = measure_real(client, split)
    if "multi" in sections:
        report["multi"] = measure_multi(client, split)
    if "followups" in sections:
        report["followups"] = measure_followups(client, split)
    sequential: list[Result] = []
    if "heldout" in sections:
        sequential = ask_all(client, questions[IN_GUIDANCE], IN_GUIDANCE)
        sequential += ask_all(client, questions[BEYOND], BEYOND)
    others: list[Result] = []
    kinds = {"safeguarding": (SAFEGUARDING, NOT_SAFEGUARDING), "bad-input": (BAD_INPUT,)}
    for section, section_kinds in kinds.items():
        if section in sections:
            for kind in section_kinds:
                others += ask_all(client, questions[kind], kind)
    results = sequential + others
    report |= {
        "assistant": assistant_metrics(results),
        "latency": {"one_conversation": latency([o.seconds for _, o in sequential])},
        "failures": failures(results),
        "bad_input": bad_input_details(results),
    }
    if "length" in sections:
        report["length"] = measure_length(client)
    if "concurrency" in sections:
        texts = [q.text for q in questions[IN_GUIDANCE]]
        start = time.perf_counter()
        concurrent = run_concurrently(client, texts, CONCURRENT_CONVERSATIONS)
        wall = time.perf_counter() - start
        report["latency"]["concurrent"] = {
            **latency([o.seconds for o in concurrent]),
            "conversations": CONCURRENT_CONVERSATIONS,
            "errors": sum(1 for o in concurrent if not replied(o)),
            "messages_per_second": round(len(concurrent) / wall, 1) if wall else None,
        }
    return report


def conversation(client: Client, texts: Sequence[str]) -> list[tuple[Outcome, dict[str, Any]]]:
    """The texts as one conversation, with the slots after each turn."""
    try:
        sender = client.new_conversation()
    except (OSError, ValueError, KeyError) as error:
        failed = Outcome(0, 0.0, error=f"starting a conversation: {error}")
        return [(failed, {}) for _ in texts]
    turns = []
    for text in texts:
        outcome = client.send(sender, text)
        turns.append((outcome, read_slots(client, sender, outcome)))
    return turns


def what_happened(slots: dict[str, Any]) -> str:
    route = slots.get("route") or "no route"
    articles = slots.get("kb_articles") or (
        [slots["kb_article"]] if slots.get("kb_article") else []
    )
    escalated = slots.get("escalated_topics") or []
    return " ".join(
        [route, *(f"[{', '.join(articles)}]" for _ in [0] if articles)]
        + [f"escalated {', '.join(escalated)}" for _ in [0] if escalated]
    )


def measure_real(client: Client, split: str) -> dict[str, Any]:
    """Real parents' questions of one split, each the first message of a new conversation."""
    questions = real.split_of(real.load_questions(), split)
    rows = []
    for done, question in enumerate(questions, 1):
        rows.append((question, *conversation(client, [question.text])[0]))
        progress(f"real questions ({split})", done, len(questions))
    inside = [(q, o, s) for q, o, s in rows if not q.beyond]
    beyond = [(q, o, s) for q, o, s in rows if q.beyond]
    return {
        "split": split,
        "answered_from_acceptable": fraction(
            sum(real.real_passed(q, s) for q, _, s in inside), len(inside)
        ),
        "top_or_also_answered": fraction(
            sum(bool(set(s.get("kb_articles") or []) & set(q.acceptable)) for q, _, s in inside),
            len(inside),
        ),
        "beyond_escalated": fraction(
            sum(real.real_passed(q, s) for q, _, s in beyond), len(beyond)
        ),
        "in_guidance_escalated": fraction(
            sum(s.get("route") == "escalate" for _, _, s in inside), len(inside)
        ),
        "beyond_answered_instead": fraction(
            sum(s.get("route") == "answer" and not s.get("escalated_topics") for _, _, s in beyond),
            len(beyond),
        ),
        "latency": latency([o.seconds for _, o, _ in rows if o.status == 200]),
        "texts": [q.text for q, _, _ in rows],
        "failures": [
            {
                "text": shown(q.text),
                "expected": f"beyond:{q.beyond}" if q.beyond else " ".join(q.acceptable),
                "got": o.error or what_happened(s),
                "source": q.source,
            }
            for q, o, s in rows
            if not real.real_passed(q, s)
        ],
    }


def measure_multi(client: Client, split: str) -> dict[str, Any]:
    """Messages asking several things: is every part answered or handed to an adviser?"""
    messages = real.load_multi(split)
    every, parts, total_parts, misses = 0, 0, 0, []
    for done, message in enumerate(messages, 1):
        _, slots = conversation(client, [message.text])[0]
        addressed = [real.part_addressed(part, slots) for part in message.parts]
        every += all(addressed)
        parts += sum(addressed)
        total_parts += len(addressed)
        if not all(addressed):
            misses.append(
                {
                    "text": shown(message.text),
                    "parts": [" ".join(p) for p in message.parts],
                    "addressed": addressed,
                    "got": what_happened(slots),
                }
            )
        progress(f"multi-question ({split})", done, len(messages))
    return {
        "split": split,
        "every_part_addressed": fraction(every, len(messages)),
        "parts_addressed": fraction(parts, total_parts),
        "failures": misses,
    }


def measure_followups(client: Client, split: str) -> dict[str, Any]:
    """Conversations whose later turns need what came before, scored turn by turn."""
    conversations = real.load_conversations(split)
    first, later, by_kind, misses = [], [], {}, []
    for done, talk in enumerate(conversations, 1):
        turns = conversation(client, [t.text for t in talk.turns])
        for index, (turn, (outcome, slots)) in enumerate(zip(talk.turns, turns, strict=True)):
            right = real.outcome_matches(turn.expect, slots) and (
                turn.stage is None or slots.get("child_stage") == turn.stage
            )
            (first if index == 0 else later).append(right)
            if index:
                by_kind.setdefault(talk.kind, []).append(right)
            if not right:
                misses.append(
                    {
                        "conversation": talk.name,
                        "turn": index + 1,
                        "text": shown(turn.text),
                        "expected": " ".join(turn.expect)
                        + (f" (stage {turn.stage})" if turn.stage else ""),
                        "got": outcome.error
                        or what_happened(slots) + f" (stage {slots.get('child_stage')})",
                    }
                )
        progress(f"follow-up conversations ({split})", done, len(conversations))
    return {
        "split": split,
        "later_turns_right": fraction(sum(later), len(later)),
        "first_turns_right": fraction(sum(first), len(first)),
        "by_kind": {kind: fraction(sum(v), len(v)) for kind, v in sorted(by_kind.items())},
        "failures": misses,
    }


def measure_reference(texts: Sequence[str]) -> dict[str, Any]:
    """A bare `rasa init` bot on the same machine, timed on the same texts (bench/reference.py)."""
    from bench.reference import ReferenceBotError
    from bench.reference import measure_reference as bare

    try:
        return bare(list(texts))
    except (ReferenceBotError, RuntimeError, OSError) as error:
        return {"error": str(error), "p50_ms": None, "p95_ms": None, "max_ms": None}


def load_questions() -> dict[str, list[Question]]:
    everything = heldout_questions() + safeguarding_questions() + bad_input_questions()
    kinds = (IN_GUIDANCE, BEYOND, SAFEGUARDING, NOT_SAFEGUARDING, BAD_INPUT)
    return {kind: [q for q in everything if q.kind == kind] for kind in kinds}


def check_articles(kb: knowledge.KnowledgeBase, questions: Sequence[Question]) -> None:
    unknown = sorted({q.expected for q in questions if q.expected not in kb.articles})
    if unknown:
        raise BenchError(f"{HELDOUT} has kb_ intents with no article: {', '.join(unknown)}")


def machine_nproc() -> int | None:
    try:
        found = subprocess.run(["nproc"], capture_output=True, text=True, timeout=5, check=True)
        return int(found.stdout.strip())
    except (OSError, ValueError, subprocess.SubprocessError):
        return os.cpu_count()


# --- the report ------------------------------------------------------------------------------


def percent(figure: dict[str, Any]) -> str:
    if figure.get("share") is None:
        return "n/a"
    note = f", {figure['note']}" if figure.get("note") else ""
    return f"{figure['share'] * 100:.1f}% ({figure['count']}/{figure['total']}{note})"


def milliseconds(figures: dict[str, Any]) -> str:
    return (
        " / ".join(
            "n/a" if figures[k] is None else f"{figures[k]:.0f}"
            for k in ("p50_ms", "p95_ms", "max_ms")
        )
        + " ms"
    )


def ratio(report: dict[str, Any]) -> float | None:
    """Our p95 on real questions over the bare Rasa bot's p95 on the same texts."""
    ours = report.get("real", {}).get("latency", {}).get("p95_ms")
    bare = report.get("reference", {}).get("p95_ms")
    return round(ours / bare, 2) if ours and bare else None


def length_ratio(length: dict[str, Any], key: str, base: str) -> float | None:
    ours, theirs = length.get(key, {}).get("p95_ms"), length.get(base, {}).get("p95_ms")
    return round(ours / theirs, 2) if ours and theirs else None


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    mine, bm25, lat = report["assistant"], report["baseline"], report["latency"]
    training = report["training_seconds"]
    rows: list[tuple[str, str, str, str]] = []
    if "real" in report:
        real_figures, split = report["real"], report["real"]["split"]
        rows += [
            (
                f"Real questions ({split}): {label}",
                percent(real_figures[key]),
                "-",
                TARGETS.get(target, "-"),
            )
            for key, label, target in (
                (
                    "answered_from_acceptable",
                    "in-guidance answered from an acceptable article",
                    "real_answered",
                ),
                ("beyond_escalated", "beyond-guidance escalated", "real_beyond"),
                ("in_guidance_escalated", "in-guidance wrongly escalated", "real_in_escalated"),
                (
                    "beyond_answered_instead",
                    "beyond-guidance answered with an article instead",
                    "-",
                ),
            )
        ]
    if "followups" in report:
        f = report["followups"]
        rows += [
            (
                f"Follow-up turns right in context ({f['split']})",
                percent(f["later_turns_right"]),
                "-",
                TARGETS["followups"],
            ),
            (
                f"First turns of those conversations ({f['split']})",
                percent(f["first_turns_right"]),
                "-",
                "-",
            ),
        ]
    if "multi" in report:
        m = report["multi"]
        rows += [
            (
                f"Multi-question messages, every part addressed ({m['split']})",
                percent(m["every_part_addressed"]),
                "-",
                TARGETS["multi"],
            ),
            (
                f"Multi-question: parts addressed ({m['split']})",
                percent(m["parts_addressed"]),
                "-",
                "-",
            ),
        ]
    if mine["answered_from_acceptable"]["total"]:
        rows += [
            (
                f"Held-out set: {label}",
                percent(mine[key]),
                percent(bm25[key]),
                TARGETS.get(key, "-"),
            )
            for key, label in (
                ("answered_from_acceptable", "in-guidance answered from the acceptable article"),
                ("answered_from_any", "in-guidance answered from any article"),
                ("beyond_escalated", "beyond-guidance escalated"),
                ("in_guidance_escalated", "in-guidance wrongly escalated"),
            )
        ]
    if mine["safeguarding_recall"]["total"]:
        rows += [
            (label, percent(mine[key]), percent(bm25[key]), TARGETS.get(key, "-"))
            for key, label in (
                ("safeguarding_recall", "Safeguarding recall (full reply), all sets"),
                ("safeguarding_false_alarms", "Safeguarding false alarms (full reply), all sets"),
            )
        ]
        for name, figures in mine.get("safeguarding_by_set", {}).items():
            rows += [
                (
                    f"Safeguarding, {name} ({figures['use']}): risks given the full reply / "
                    "at least the short line",
                    f"{percent(figures['full'])} / {percent(figures['full_or_line'])}",
                    "-",
                    ">= 98% / 100%" if name == HONEST_SAFEGUARDING_SET else "-",
                ),
                (
                    f"Safeguarding, {name}: look-alikes given the full reply / the short line",
                    f"{percent(figures['false_full'])} / {percent(figures['false_line'])}",
                    "-",
                    "<= 3% / <= 10%" if name == HONEST_SAFEGUARDING_SET else "-",
                ),
            ]
    bad = mine["bad_input_passed"]
    if bad["total"]:
        rows.append(("Bad input handled", f"{bad['count']}/{bad['total']}", "n/a", "-"))
    if lat["one_conversation"]["messages"]:
        rows.append(
            (
                "Latency p50 / p95 / max, held-out set, 1 conversation",
                milliseconds(lat["one_conversation"]),
                "n/a",
                TARGETS["latency_one_conversation"],
            )
        )
    if "real" in report:
        rows.append(
            (
                "Latency p50 / p95 / max, real questions",
                milliseconds(report["real"]["latency"]),
                "n/a",
                "-",
            )
        )
    if "reference" in report:
        reference = report["reference"]
        rows.append(
            (
                "Bare `rasa init` bot, same texts, same machine",
                reference.get("error") or milliseconds(reference),
                "n/a",
                "-",
            )
        )
        found = ratio(report)
        rows.append(
            (
                "p95 ratio: this assistant / bare bot (real questions)",
                "n/a" if found is None else f"{found:.2f}x",
                "n/a",
                TARGETS["latency_ratio"],
            )
        )
    if "concurrent" in lat:
        rows.append(
            (
                f"Latency p50 / p95 / max, {CONCURRENT_CONVERSATIONS} conversations",
                milliseconds(lat["concurrent"]),
                "n/a",
                "-",
            )
        )
    if "length" in report:
        length = report["length"]
        for key, label in (
            ("5_words", "5-word messages"),
            ("150_words", "150-word messages"),
            ("4000_chars", "4,000-character messages"),
        ):
            found = length_ratio(length, key, "5_words")
            rows.append(
                (
                    f"Latency p50 / p95 / max, {label}"
                    + ("" if key == "5_words" else " (p95 over the 5-word p95)"),
                    milliseconds(length[key])
                    + ("" if key == "5_words" or found is None else f" ({found:.2f}x)"),
                    "n/a",
                    "-" if key == "5_words" else TARGETS[f"length_{key}"],
                )
            )
        found = length_ratio(length, "parent_with_neighbour", "parent_alone")
        rows.append(
            (
                "One parent's short messages alone / beside 4,000-character messages at the "
                "rate limit (p95 ratio)",
                f"{milliseconds(length['parent_alone'])} / "
                f"{milliseconds(length['parent_with_neighbour'])}"
                + ("" if found is None else f" ({found:.2f}x)"),
                "n/a",
                TARGETS["length_neighbour"],
            )
        )
    rows.append(
        (
            "Training time",
            "not measured (--skip-training)" if training is None else f"{training:.0f} s",
            f"{bm25['index_seconds']:.2f} s (index)",
            TARGETS["training"],
        )
    )
    return rows


def markdown_table(report: dict[str, Any]) -> str:
    lines = ["| metric | assistant | BM25 baseline | target |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in table_rows(report)]
    return "\n".join(lines)


def targets_missed(report: dict[str, Any]) -> list[str]:
    mine, lat = report["assistant"], report["latency"]["one_conversation"]

    def share(figure: dict[str, Any]) -> float:
        return figure["share"] or 0.0

    checks: dict[str, bool] = {
        "training": report["training_seconds"] is None or report["training_seconds"] <= 180,
    }
    if mine["answered_from_acceptable"]["total"]:
        checks |= {
            "answered_from_acceptable": share(mine["answered_from_acceptable"]) >= 0.9,
            "beyond_escalated": share(mine["beyond_escalated"]) >= 0.9,
            "in_guidance_escalated": share(mine["in_guidance_escalated"]) <= 0.05,
            "latency_one_conversation": lat["p95_ms"] is not None and lat["p95_ms"] <= 150,
        }
    if mine["safeguarding_recall"]["total"]:
        checks["safeguarding_recall"] = mine["safeguarding_recall"]["share"] == 1.0
    if "real" in report:
        checks |= {
            "real_answered": share(report["real"]["answered_from_acceptable"]) >= 0.9,
            "real_beyond": share(report["real"]["beyond_escalated"]) >= 0.9,
            "real_in_escalated": share(report["real"]["in_guidance_escalated"]) <= 0.05,
        }
    if "followups" in report:
        checks["followups"] = share(report["followups"]["later_turns_right"]) >= 0.85
    if "multi" in report:
        checks["multi"] = share(report["multi"]["every_part_addressed"]) >= 0.8
    if "reference" in report:
        found = ratio(report)
        checks["latency_ratio"] = found is not None and found <= 1.6
    if "length" in report:
        length = report["length"]
        for key, most in (("150_words", 1.5), ("4000_chars", 2.0)):
            found = length_ratio(length, key, "5_words")
            checks[f"length_{key}"] = found is not None and found <= most
        found = length_ratio(length, "parent_with_neighbour", "parent_alone")
        checks["length_neighbour"] = found is not None and found <= 1.5
    return [f"{key} (target {TARGETS[key]})" for key, met in checks.items() if not met]


def markdown_report(report: dict[str, Any]) -> str:
    lines = [
        f"# SEN Support Assistant benchmark, {report['timestamp']}",
        "",
        f"Machine: nproc {report['nproc']}. Model: {report['model']}.",
        "BM25 never escalates and has no safeguarding check: its escalation and safeguarding "
        "figures are 0 by construction.",
        "",
        markdown_table(report),
        "",
        "Targets missed: " + (", ".join(report["targets_missed"]) or "none"),
        "",
        f"## Failures ({len(report['failures'])})",
        "",
    ]
    lines += [
        f'- [{f["kind"]}] "{f["text"]}": expected {f["expected"]}, got {f["got"]}'
        for f in report["failures"]
    ]
    for key, title in (
        ("real", "Real questions"),
        ("multi", "Multi-question"),
        ("followups", "Follow-ups"),
    ):
        if key not in report:
            continue
        misses = report[key]["failures"]
        lines += ["", f"## {title}, {report[key]['split']} split: failures ({len(misses)})", ""]
        lines += [f"- {json.dumps(m, ensure_ascii=False)}" for m in misses]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    text = markdown_report(report)
    (out / "bench.md").write_text(text)
    return text


# --- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="bench-results", help="folder for bench.json/bench.md")
    parser.add_argument("--url", help="benchmark an already running Rasa server at this URL")
    parser.add_argument(
        "--jwt-secret", help="its HTTP API's JWT secret (default: var/rasa-jwt-secret)"
    )
    parser.add_argument("--rasa-port", type=int, default=15005)
    parser.add_argument("--actions-port", type=int, default=15055)
    parser.add_argument(
        "--split",
        choices=("dev", "test"),
        default="test",
        help="which split of the real questions and conversation sets to score (default: test; "
        "tune on dev only)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS + ("reference",)),
        help="comma-separated sections to run (default: all): "
        + ", ".join(SECTIONS + ("reference",)),
    )
    parser.add_argument(
        "--skip-training",
        action="store_true",
        help=f"use {DEFAULT_MODEL.relative_to(ROOT)} instead of training",
    )
    return parser.parse_args(argv)


def prepare_model(args: argparse.Namespace, directory: Path) -> tuple[Path, float | None]:
    if not args.skip_training:
        return train_model(directory)
    if not DEFAULT_MODEL.exists() and not args.url:
        raise BenchError(f"No model at {DEFAULT_MODEL}: train one, or drop --skip-training.")
    return DEFAULT_MODEL, None


def running_server(args: argparse.Namespace) -> Client:
    """The already running server given by --url, checked before anything else is done."""
    client = Client(args.url.rstrip("/"), given_secret(args))
    if not client.is_up():
        raise BenchError(
            f"{args.url}/status did not answer: is the server running, and is the JWT secret right?"
        )
    return client


def measure_own_servers(
    model: Path, args: argparse.Namespace, directory: Path, questions: dict[str, list[Question]]
) -> dict[str, Any]:
    servers = start_servers(model, args, directory)
    try:
        return measure(Client(servers.url, servers.jwt_secret), questions, *sections(args))
    finally:
        servers.stop()


def sections(args: argparse.Namespace) -> tuple[list[str], str]:
    chosen = [s.strip() for s in str(args.only).split(",") if s.strip()]
    unknown = set(chosen) - set(SECTIONS) - {"reference"}
    if unknown:
        raise BenchError(f"--only: unknown sections {', '.join(sorted(unknown))}")
    return chosen, args.split


def model_description(model: Path, args: argparse.Namespace) -> str:
    return str(model) if args.skip_training else f"{model.name}, trained afresh by this run"


def benchmark(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    kb = knowledge.load()
    questions = load_questions()
    check_articles(kb, questions[IN_GUIDANCE])
    client = running_server(args) if args.url else None
    model, training_seconds = prepare_model(args, directory)
    report: dict[str, Any] = {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "nproc": machine_nproc(),
        "model": f"the server at {args.url}" if client else model_description(model, args),
        "training_seconds": None if training_seconds is None else round(training_seconds, 1),
        "questions": {kind: len(qs) for kind, qs in questions.items()},
    }
    if client:
        report |= measure(client, questions, *sections(args))
    else:
        report |= measure_own_servers(model, args, directory, questions)
    if "reference" in sections(args)[0]:
        # After our servers have stopped, so the two never compete for the CPU.
        texts = report.get("real", {}).get("texts") or [q.text for q in questions[IN_GUIDANCE]]
        report["reference"] = measure_reference(texts)
    report["baseline"] = baseline_metrics(kb, questions)
    report["targets"] = TARGETS
    report["targets_missed"] = targets_missed(report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sen-bench-") as directory:
        try:
            report = benchmark(args, Path(directory))
        except (BenchError, knowledge.KnowledgeError) as error:
            print(f"\nThe benchmark could not run: {error}", file=sys.stderr)
            return 2
    write_report(report, Path(args.out))
    print("\n" + markdown_table(report))
    print("\nTargets missed: " + (", ".join(report["targets_missed"]) or "none"))
    print(
        f"{len(report['failures'])} failures; details in {Path(args.out) / 'bench.md'} "
        f"and {Path(args.out) / 'bench.json'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
