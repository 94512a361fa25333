"""The load benchmark's conversations, figures and report (bench.loadbench), without servers."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from bench import loadbench
from bench.loadbench import (
    OTHER,
    conversations,
    cpu_by_group,
    group_of,
    locust_stats,
    markdown_report,
    parse_stat,
    question_sets,
    read_samples,
    summarise,
    targets,
    write_report,
)

SETS = {
    "greeting": ["hello"],
    "in-guidance": ["what is a senco", "what is an iep"],
    "beyond-guidance": ["can the council refuse an ehcp assessment"],
    "clarification": ["my son is struggling"],
    "closing": ["thanks"],
}


def sample(ms: float, name: str = "message", ok: bool = True, kind: str = "in-guidance") -> dict:
    return {"t": 0, "name": name, "ms": ms, "ok": ok, "kind": kind, "error": None if ok else "x"}


def run(instances: int, phase: str, **figures: Any) -> dict[str, Any]:
    base = {
        "instances": instances,
        "phase": phase,
        "users": 32,
        "think": "1-3 s" if phase == "latency" else "none",
        "requests": 100,
        "failures": 0,
        "throughput_rps": 10.0,
        "p50_ms": 100.0,
        "p95_ms": 300.0,
        "p99_ms": 350.0,
        "by_kind": {},
        "cpu": {"machine_cores": 1.9, "groups": {"rasa 0": 0.9, "locust": 0.3, OTHER: 0.2}},
    }
    return {**base, **figures}


# --- conversations ---------------------------------------------------------------------------


def test_every_conversation_has_three_to_six_turns_from_the_sets():
    plays = conversations(500, 1, SETS)
    assert all(3 <= len(turns) <= 6 for turns in plays)
    for turns in plays:
        for turn in turns:
            assert turn["text"] in SETS[turn["kind"]]


def test_conversations_mix_escalations_clarifications_and_thanks_in_a_realistic_share():
    plays = conversations(1000, 2, SETS)
    share = {
        kind: sum(any(t["kind"] == kind for t in turns) for turns in plays) / len(plays)
        for kind in SETS
    }
    assert 0.25 < share["beyond-guidance"] < 0.45
    assert 0.15 < share["clarification"] < 0.35
    assert 0.6 < share["closing"] < 0.8
    assert share["in-guidance"] == 1.0
    # greetings open and thanks close a conversation, never the other way round
    assert all(t["kind"] != "greeting" for turns in plays for t in turns[1:])
    assert all(t["kind"] != "closing" for turns in plays for t in turns[:-1])


def test_conversations_are_the_same_for_the_same_seed_and_differ_for_another():
    assert conversations(50, 3, SETS) == conversations(50, 3, SETS)
    assert conversations(50, 3, SETS) != conversations(50, 4, SETS)


def test_question_sets_come_from_the_held_out_file():
    sets = question_sets()
    assert len(sets["in-guidance"]) > 100
    assert len(sets["beyond-guidance"]) > 50
    assert sets["closing"] and sets["greeting"]
    assert "can the council refuse an ehcp assessment" not in sets["in-guidance"]


def test_question_sets_refuse_a_file_without_one_kind(tmp_path: Path):
    path = tmp_path / "nlu.yml"
    path.write_text('version: "3.1"\nnlu:\n- intent: kb_senco\n  examples: |\n    - who\n')
    with pytest.raises(ValueError, match="greeting"):
        question_sets(path)


def test_a_long_conversation_is_trimmed_to_six_turns():
    class Always(random.Random):
        def random(self) -> float:  # every optional turn is taken
            return 0.0

        def randint(self, a: int, b: int) -> int:
            return b

    assert len(loadbench.conversation(Always(), SETS)) == 6


# --- figures ---------------------------------------------------------------------------------


def test_summary_gives_exact_percentiles_throughput_and_failures():
    samples = [sample(float(ms)) for ms in range(1, 101)]  # 1..100 ms
    samples += [sample(5.0, name="session"), sample(7.0, ok=False)]
    summary = summarise(samples, seconds=10.0)
    assert summary["requests"] == 101
    assert summary["failures"] == 1
    assert summary["failure_reasons"] == {"x": 1}
    assert summary["conversations_started"] == 1
    assert summary["throughput_rps"] == 10.1
    assert summary["p50_ms"] == 50.0  # the failed message's 7 ms counts too
    assert summary["p95_ms"] == 95.0
    assert summary["p99_ms"] == 99.0
    assert summary["max_ms"] == 100.0


def test_summary_counts_a_failed_session_and_splits_latency_by_kind():
    samples = [sample(10.0, kind="greeting"), sample(400.0, kind="beyond-guidance")]
    samples.append(sample(3.0, name="session", ok=False))
    summary = summarise(samples, seconds=2.0)
    assert summary["failures"] == 1
    assert summary["by_kind"]["greeting"]["p95_ms"] == 10.0
    assert summary["by_kind"]["beyond-guidance"]["messages"] == 1


def test_summary_of_nothing_has_no_figures():
    summary = summarise([], seconds=15.0)
    assert summary["requests"] == 0 and summary["throughput_rps"] == 0
    assert summary["p95_ms"] is None


def test_samples_skip_a_half_written_last_line(tmp_path: Path):
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps(sample(1.0)) + "\n" + '{"t": 1, "na')
    assert read_samples(path) == [sample(1.0)]
    assert read_samples(tmp_path / "missing.jsonl") == []


def test_locust_stats_reads_the_message_row(tmp_path: Path):
    path = tmp_path / "x_stats.csv"
    path.write_text(
        "Type,Name,Request Count,Failure Count,Requests/s,50%,95%,99%\n"
        "POST,session,10,0,1.0,5,9,9\n"
        "POST,message,40,2,4.5,120,380,410\n"
        ",Aggregated,50,2,5.5,100,370,400\n"
    )
    assert locust_stats(path) == {
        "requests": 40,
        "failures": 2,
        "throughput_rps": 4.5,
        "p50_ms": 120.0,
        "p95_ms": 380.0,
        "p99_ms": 410.0,
    }


# --- targets and CPU -------------------------------------------------------------------------


def test_targets_met():
    runs = [run(1, "latency"), run(1, "throughput"), run(2, "throughput", throughput_rps=16.0)]
    result = targets(runs)
    assert result["latency"]["met"] is True
    assert result["scaling"] == {**result["scaling"], "ratio": 1.6, "met": True}


@pytest.mark.parametrize(
    ("latency", "two", "latency_met", "scaling_met"),
    [
        ({"p95_ms": 401.0}, 20.0, False, True),
        ({"failures": 1}, 20.0, False, True),
        ({}, 15.9, True, False),
    ],
)
def test_targets_missed(latency: dict, two: float, latency_met: bool, scaling_met: bool):
    runs = [
        run(1, "latency", **latency),
        run(1, "throughput"),
        run(2, "throughput", throughput_rps=two),
    ]
    result = targets(runs)
    assert result["latency"]["met"] is latency_met
    assert result["scaling"]["met"] is scaling_met


def test_targets_not_measured_without_the_runs():
    result = targets([run(1, "latency")])
    assert result["scaling"]["met"] is None and "ratio" not in result["scaling"]


def test_parse_stat_handles_a_command_name_with_spaces_and_brackets():
    text = "1234 (rasa (x) y) S 42 1 1 0 -1 4194560 10 0 0 0 150 25 0 0 20 0 1 0"
    assert parse_stat(text) == (42, "rasa (x) y", 175)


def test_cpu_is_attributed_to_the_nearest_known_ancestor_else_a_service_else_other():
    before = {10: (1, "python", 100), 11: (10, "python", 50), 20: (1, "postgres", 0)}
    after = {
        10: (1, "python", 300),  # rasa 0: +200
        11: (10, "python", 150),  # a child of rasa 0: +100
        20: (1, "postgres", 100),  # PostgreSQL: +100
        30: (1, "bash", 50),  # started during the run: counts from zero
    }
    assert group_of(11, after, {10: "rasa 0"}) == "rasa 0"
    cores = cpu_by_group(before, after, {10: "rasa 0"}, seconds=2.0, ticks_per_second=100)
    assert cores == {"rasa 0": 1.5, "PostgreSQL": 0.5, OTHER: 0.25}


def test_a_reused_pid_counts_from_zero():
    before = {10: (1, "old", 500)}
    after = {10: (1, "new", 100)}
    assert cpu_by_group(before, after, {}, 1.0, 100) == {OTHER: 1.0}


def test_bounds_state_the_cpu_ceiling_and_the_noise():
    runs = [run(1, "throughput"), run(2, "throughput", throughput_rps=13.0)]
    lines = loadbench.bounds(runs, cores=2)
    text = "\n".join(lines)
    # One instance, 10 msg/s: Rasa 0.9 cores = 90 ms a message, Locust 0.3 = 30 ms (the
    # other processes, 0.2 cores, are not the benchmark's).
    assert "with 1 instance(s): Rasa 90 ms of CPU, everything else 30 ms" in text
    # Two instances, 13 msg/s: 1.2 cores = 92 ms a message; 2 cores: ~22 msg/s = 2.17x of 10.
    assert "with 2 instance(s): Rasa 69 ms of CPU, everything else 23 ms" in text
    assert "At the 2-instance cost, 92 ms of CPU a message" in text
    assert "~22 messages/s" in text and "2.17x" in text
    assert "up to 0.20 cores" in text


def test_without_a_two_instance_run_the_ceiling_comes_from_one():
    text = "\n".join(loadbench.bounds([run(1, "throughput")], cores=2))
    # 1.2 cores for 10 msg/s = 120 ms a message; 2 cores: ~17 msg/s
    assert "At the 1-instance cost, 120 ms of CPU a message" in text
    assert "~17 messages/s" in text and "1.67x" in text


# --- the report ------------------------------------------------------------------------------


def report() -> dict[str, Any]:
    runs = [
        run(1, "latency", p95_ms=450.0),
        run(1, "throughput"),
        run(2, "latency"),
        run(2, "throughput", throughput_rps=14.0, failure_reasons={"HTTP 502": 2}),
    ]
    return {
        "date": "2026-11-29T09:00:00+00:00",
        "mode": "quick",
        "conditions": "Measured on a 2-core machine.",
        "runs": runs,
        "targets": targets(runs),
        "bounds": loadbench.bounds(runs, 2),
    }


def test_markdown_report_has_the_table_the_verdicts_and_the_bounds():
    text = markdown_report(report())
    assert "| 1 | latency | 32 | 1-3 s | 100 | 0 | 10 | 100 | 450 | 350 |" in text
    assert "| 2 | throughput | 32 | none | 100 | 0 | 14 | 100 | 300 | 350 |" in text
    assert "p95 450 ms, 0 failures: **NOT met**" in text
    assert "1.4x: **NOT met**" in text
    assert "2 x HTTP 502" in text
    assert "## What bounds the scaling" in text


def test_write_report_writes_json_markdown_and_a_chart(tmp_path: Path):
    write_report(report(), tmp_path)
    assert json.loads((tmp_path / "load.json").read_text())["mode"] == "quick"
    assert (tmp_path / "load.md").read_text().startswith("# SEN Support Assistant load")
    chart = (tmp_path / "load.svg").read_text()
    assert chart.lstrip().startswith("<?xml") and "<svg" in chart
