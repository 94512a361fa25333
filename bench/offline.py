"""The real-question, multi-question and follow-up sets scored in-process, without servers.

The trained model's NLU pipeline (``rasa.core.agent.Agent``) parses each message and the same
``Responder`` the action server uses decides the reply, with an in-memory case store (no adviser
on duty). The slots are read from the ``Reply`` exactly as ``actions.runtime.deliver`` sets them.
This is for quick calibration on the dev split; ``make bench`` (real servers over REST) gives the
reported figures.

    PYTHONPATH=. .venv/bin/python -m bench.offline --split dev [--model models/sen-assistant.tar.gz]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import real_questions as rq
from bot.assistant import knowledge
from bot.assistant.responder import Reply, Responder, Turn
from bot.assistant.retrieval import KnowledgeRetriever
from bot.assistant.safeguarding import possible_risk
from bot.contract import BEYOND_KEY, PARTS_KEY, Case
from bot.settings import load_settings

DEFAULT_MODEL = Path("models/sen-assistant.tar.gz")


class MemoryCases:
    """The case store's interface, in memory, with nobody on duty."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)

    def open_case(self, case: Case) -> Case:
        case.id = next(self.ids)
        return case

    def people_ahead(self, case: Case) -> int:
        return 0

    def set_paused(self, case_id: int, paused: bool) -> None:
        return None

    def available_advisers(self) -> list:
        return []


def slots_of(reply: Reply) -> dict[str, Any]:
    return {
        "route": reply.route,
        "kb_article": reply.article,
        "kb_articles": list(reply.articles),
        "escalated_topics": list(reply.escalated),
        "offered": list(reply.offered),
        "child_stage": reply.stage,
        "safety_note": reply.safety_note,
        "misses": reply.misses,
    }


class Pipeline:
    def __init__(self, model: Path) -> None:
        from rasa.core.agent import Agent

        self.agent = Agent.load(str(model))
        retriever = KnowledgeRetriever(knowledge.load())
        self.responder = Responder(retriever.kb, retriever, MemoryCases(), load_settings())
        self.loop = asyncio.new_event_loop()

    def parse(self, text: str) -> dict[str, Any]:
        return self.loop.run_until_complete(self.agent.parse_message(text))

    def turn(self, text: str, state: dict[str, Any], recent: list[str]) -> Turn:
        message = self.parse(text)
        intent = message.get("intent") or {}
        return Turn(
            text=text,
            intent=intent.get("name"),
            confidence=float(intent.get("confidence") or 0.0),
            ranking=list(message.get("intent_ranking") or []),
            entities=list(message.get("entities") or []),
            conversation_id="offline",
            channel="offline",
            misses=int(state.get("misses") or 0),
            recent=[*recent, text][-5:],
            parts=[p for p in message.get(PARTS_KEY) or [] if isinstance(p, dict)],
            last_articles=list(state.get("kb_articles") or []),
            offered=list(state.get("offered") or []),
            stage=state.get("child_stage"),
            possible_risk=possible_risk(message),
            beyond=message.get(BEYOND_KEY),
        )

    def conversation(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        state: dict[str, Any] = {}
        recent: list[str] = []
        out = []
        for text in texts:
            reply = self.responder.respond(self.turn(text, state, recent))
            recent.append(text)
            state = slots_of(reply)
            out.append(state)
        return out


def what(slots: dict[str, Any]) -> str:
    route = slots["route"]
    if route == "answer":
        return f"answer:{','.join(slots['kb_articles'])}" + (
            f" +esc:{','.join(slots['escalated_topics'])}" if slots["escalated_topics"] else ""
        )
    if route == "escalate":
        return f"escalate:{','.join(slots['escalated_topics'])}"
    return route


def score(pipeline: Pipeline, split: str, only: set[str], verbose: bool) -> dict[str, Any]:
    report: dict[str, Any] = {}
    failures: list[str] = []
    if "real" in only:
        questions = rq.split_of(rq.load_questions(), split)
        inside = [q for q in questions if not q.beyond]
        beyond = [q for q in questions if q.beyond]
        ok_in = wrong_esc = ok_beyond = 0
        for q in questions:
            slots = pipeline.conversation([q.text])[0]
            passed = rq.real_passed(q, slots)
            if q.beyond:
                ok_beyond += passed
            else:
                ok_in += passed
                wrong_esc += slots["route"] == "escalate"
            if not passed:
                want = f"beyond:{q.beyond}" if q.beyond else ",".join(q.acceptable)
                failures.append(f"[real] {q.text[:140]!r}: want {want}, got {what(slots)}")
        report["real_in"] = f"{ok_in}/{len(inside)} ({100 * ok_in / max(1, len(inside)):.1f}%)"
        report["real_beyond"] = (
            f"{ok_beyond}/{len(beyond)} ({100 * ok_beyond / max(1, len(beyond)):.1f}%)"
        )
        report["real_wrongly_escalated"] = f"{wrong_esc}/{len(inside)}"
    if "multi" in only:
        messages = rq.load_multi(split)
        every = parts = total = 0
        for m in messages:
            slots = pipeline.conversation([m.text])[0]
            hits = [rq.part_addressed(p, slots) for p in m.parts]
            parts += sum(hits)
            total += len(hits)
            every += all(hits)
            if not all(hits):
                failures.append(
                    f"[multi] {m.text[:140]!r}: want {[' '.join(p) for p in m.parts]}, "
                    f"got {what(slots)}"
                )
        report["multi_every"] = (
            f"{every}/{len(messages)} ({100 * every / max(1, len(messages)):.1f}%)"
        )
        report["multi_parts"] = f"{parts}/{total}"
    if "followups" in only:
        conversations = rq.load_conversations(split)
        right = count = 0
        for c in conversations:
            results = pipeline.conversation([t.text for t in c.turns])
            for i, (t, slots) in enumerate(zip(c.turns, results, strict=True)):
                if i == 0:
                    continue
                count += 1
                ok = rq.outcome_matches(t.expect, slots)
                if t.stage:
                    ok = ok and slots.get("child_stage") == t.stage
                right += ok
                if not ok:
                    failures.append(
                        f"[followup {c.name} #{i}] {t.text!r}: want {' '.join(t.expect)}, "
                        f"got {what(slots)}"
                    )
        report["followups"] = f"{right}/{count} ({100 * right / max(1, count):.1f}%)"
    if verbose:
        for line in failures:
            print(line)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=("train", "dev", "test"))
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--only", default="real,multi,followups")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every failure")
    args = parser.parse_args(argv)
    if args.split == "test":
        print("The test split is for the final report only: use make bench.")
    pipeline = Pipeline(args.model)
    report = score(pipeline, args.split, set(args.only.split(",")), args.verbose)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
