"""Load benchmark: many parents at once, on one Rasa instance and then on two (``make bench-load``).

    PYTHONPATH=. .venv/bin/python -m bench.loadbench [--duration 60] [--quick]

In one run, for 1 and then 2 instances: starts ``bot.ops.cluster.Cluster`` on the production profile
(PostgreSQL, Redis, RabbitMQ, nginx; ports 28000-28036, a database, Redis db 9 and a queue of
its own, removed afterwards), warms it up, and runs Locust (``bench/load/locustfile.py``, from
``.venv-load``) twice against nginx:

- ``latency``: 32 parents at once, each thinking 5-15 s between messages (the latency target);
- ``throughput``: 32 parents sending their next message as soon as the last is answered (the
  most the cluster can do).

Each simulated parent plays a scripted conversation of 3-6 turns from the project's question
sets (greetings, in-guidance questions, vague messages that get a clarifying reply,
beyond-guidance questions that escalate, thanks), starting a new conversation each time. CPU use
per process group is read from /proc before and after each run. Writes ``load.json``,
``load.md`` and ``load.svg`` to ``--out`` (``bench-results``). Missing a target still exits 0 (it
is a measurement); a cluster that will not start or a missing Locust exits 2.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.accuracy import HELDOUT, nlu_examples, percentile
from bot.contract import article_for_intent
from bot.settings import ROOT

LOCUSTFILE = ROOT / "bench" / "load" / "locustfile.py"
LOCUST = ROOT / ".venv-load" / "bin" / "locust"
MODEL = ROOT / "models" / "sen-assistant.tar.gz"
BASE_PORT = 28000  # nginx; Rasa 28010+, action servers 28020+, adviser API 28030
PORT_STEP = 5  # the next cluster: nginx 28005, Rasa 28015+, actions 28025+, adviser API 28035
REDIS_URL = "redis://127.0.0.1:6379/9"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"

LATENCY_TARGET_MS = 400.0
SCALING_TARGET = 1.6
MESSAGE = "message"
SESSION = "session"

# Messages too vague to answer: the assistant asks which topic the parent means.
VAGUE_MESSAGES = (
    "my son is struggling",
    "school stuff",
    "i need some help with my daughter",
    "its about the meeting",
    "not sure where to start really",
    "hes just not coping",
)
WARM_UP_MESSAGES = ("hello", "what is a senco", "can the council refuse an ehcp assessment")


@dataclass(frozen=True)
class Phase:
    name: str
    users: int
    think_min: float
    think_max: float

    @property
    def think(self) -> str:
        if self.think_max <= 0:
            return "none"
        return f"{self.think_min:g}-{self.think_max:g} s"


# --- conversations ---------------------------------------------------------------------------


def question_sets(path: Path = HELDOUT) -> dict[str, list[str]]:
    """The held-out set's questions, by the part they play in a conversation."""
    from bot.assistant.responder import BEYOND_GUIDANCE_TOPICS

    examples = nlu_examples(path)
    sets: dict[str, list[str]] = {
        "greeting": list(examples.get("greet", [])),
        "in-guidance": [t for i, ts in examples.items() if article_for_intent(i) for t in ts],
        "beyond-guidance": [t for i in BEYOND_GUIDANCE_TOPICS for t in examples.get(i, [])],
        "clarification": list(VAGUE_MESSAGES),
        "closing": list(examples.get("thanks", [])) + list(examples.get("goodbye", [])),
    }
    empty = [kind for kind, texts in sets.items() if not texts]
    if empty:
        raise ValueError(f"{path} has no questions for: {', '.join(empty)}")
    return sets


def conversation(rng: random.Random, sets: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """One parent's conversation, 3-6 turns: maybe a greeting, maybe a vague message, 1-3
    in-guidance questions, in about a third a question beyond the guidance (escalated), and
    usually thanks or goodbye at the end."""

    def turn(kind: str) -> dict[str, str]:
        return {"kind": kind, "text": rng.choice(sets[kind])}

    opening = [turn("greeting")] if rng.random() < 0.4 else []
    middle = [turn("in-guidance") for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.25:
        middle.insert(0, turn("clarification"))
    if rng.random() < 0.35:
        middle.insert(rng.randint(1, len(middle)), turn("beyond-guidance"))
    closing = [turn("closing")] if rng.random() < 0.7 else []
    while len(opening) + len(middle) + len(closing) < 3:
        middle.append(turn("in-guidance"))
    while len(opening) + len(middle) + len(closing) > 6:
        kinds = [t["kind"] for t in middle]
        middle.pop(kinds.index("in-guidance"))
    return opening + middle + closing


def conversations(count: int, seed: int, sets: Mapping[str, Sequence[str]]) -> list[list[dict]]:
    rng = random.Random(seed)
    return [conversation(rng, sets) for _ in range(count)]


# --- figures ---------------------------------------------------------------------------------


def milliseconds(values: Sequence[float], p: float) -> float | None:
    found = percentile(values, p)
    return None if found is None else round(found, 1)


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The JSON lines the locustfile wrote; a half-written last line is skipped."""
    samples = []
    if not path.exists():
        return samples
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            samples.append(json.loads(line))
        except ValueError:
            continue
    return samples


def summarise(samples: Sequence[Mapping[str, Any]], seconds: float) -> dict[str, Any]:
    """Per-message figures for one Locust run: latency of every message (failed ones too),
    failures of messages and of starting conversations, throughput over the run's length."""
    messages = [s for s in samples if s.get("name") == MESSAGE]
    sessions = [s for s in samples if s.get("name") == SESSION]
    latencies = [float(s["ms"]) for s in messages]
    failed = [s for s in (*messages, *sessions) if not s.get("ok")]
    by_kind: dict[str, Any] = {}
    for kind in sorted({str(s.get("kind") or "") for s in messages}):
        of_kind = [float(s["ms"]) for s in messages if (s.get("kind") or "") == kind]
        by_kind[kind or "unknown"] = {
            "messages": len(of_kind),
            "p50_ms": milliseconds(of_kind, 50),
            "p95_ms": milliseconds(of_kind, 95),
        }
    return {
        "requests": len(messages),
        "failures": len(failed),
        "failure_reasons": dict(Counter(str(s.get("error") or "failed") for s in failed)),
        "conversations_started": len(sessions),
        "seconds": round(seconds, 1),
        "throughput_rps": round(len(messages) / seconds, 2) if seconds > 0 else None,
        "p50_ms": milliseconds(latencies, 50),
        "p95_ms": milliseconds(latencies, 95),
        "p99_ms": milliseconds(latencies, 99),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "session_p95_ms": milliseconds([float(s["ms"]) for s in sessions], 95),
        "by_kind": by_kind,
    }


def locust_stats(path: Path) -> dict[str, Any] | None:
    """Locust's own figures for the messages (its CSV, percentiles rounded to its buckets)."""
    import csv

    if not path.exists():
        return None
    with path.open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            if row.get("Name") == MESSAGE:
                return {
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "throughput_rps": round(float(row["Requests/s"]), 2),
                    "p50_ms": float(row["50%"]),
                    "p95_ms": float(row["95%"]),
                    "p99_ms": float(row["99%"]),
                }
    return None


# --- CPU use ---------------------------------------------------------------------------------

ProcessTable = dict[int, tuple[int, str, int]]  # pid -> (parent pid, command name, CPU ticks)
SERVICES = {
    "postgres": "PostgreSQL",
    "redis-server": "Redis",
    "beam.smp": "RabbitMQ",
    "erl_child_setup": "RabbitMQ",
    "epmd": "RabbitMQ",
    "inet_gethost": "RabbitMQ",
}
OTHER = "other processes"


def parse_stat(text: str) -> tuple[int, str, int]:
    """/proc/PID/stat -> (parent pid, command name, user + system ticks)."""
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), name, int(fields[11]) + int(fields[12])


def process_table() -> ProcessTable:
    table: ProcessTable = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            table[int(entry.name)] = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # ended while we looked
    return table


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as file:
        values = [int(v) for v in file.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


def group_of(pid: int, table: ProcessTable, roots: Mapping[int, str]) -> str:
    """The label of ``pid``'s nearest ancestor (or itself) in ``roots``, else a service by its
    command name, else OTHER."""
    seen, current = 0, pid
    while current in table and seen < 64:
        if current in roots:
            return roots[current]
        current, seen = table[current][0], seen + 1
    return SERVICES.get(table[pid][1], OTHER) if pid in table else OTHER


def cpu_by_group(
    before: ProcessTable,
    after: ProcessTable,
    roots: Mapping[int, str],
    seconds: float,
    ticks_per_second: float,
) -> dict[str, float]:
    """Cores used by each group between two snapshots (a process started in between counts from
    zero; one that ended is lost)."""
    used: Counter[str] = Counter()
    for pid, (_, name, ticks) in after.items():
        earlier = before.get(pid)
        start = earlier[2] if earlier is not None and earlier[1] == name else 0
        used[group_of(pid, after, roots)] += max(0, ticks - start)
    scale = seconds * ticks_per_second
    return {group: round(t / scale, 2) for group, t in sorted(used.items()) if t > 0}


class CpuMeter:
    def __init__(self, roots: Mapping[int, str]) -> None:
        self.roots = dict(roots)

    def __enter__(self) -> CpuMeter:
        self.start, self.table, self.ticks = time.monotonic(), process_table(), machine_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        seconds = self.seconds = time.monotonic() - self.start
        busy, total = machine_ticks()
        cores = os.cpu_count() or 1
        d_busy, d_total = busy - self.ticks[0], total - self.ticks[1]
        self.machine_cores = round(cores * d_busy / d_total, 2) if d_total else None
        hz = float(os.sysconf("SC_CLK_TCK"))
        self.groups = cpu_by_group(self.table, process_table(), self.roots, seconds, hz)


# --- the report ------------------------------------------------------------------------------


def find_run(runs: Iterable[Mapping[str, Any]], instances: int, phase: str) -> Mapping | None:
    return next((r for r in runs if r["instances"] == instances and r["phase"] == phase), None)


def targets(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Whether the latency target (1 instance, 32 parents thinking) and the scaling target
    (2 instances' throughput against 1's) were met; None where a run is missing."""
    latency = find_run(runs, 1, "latency")
    one, two = find_run(runs, 1, "throughput"), find_run(runs, 2, "throughput")
    result: dict[str, Any] = {
        "latency": {"target": f"p95 <= {LATENCY_TARGET_MS:g} ms and no errors", "met": None},
        "scaling": {"target": f">= {SCALING_TARGET:g}x the throughput of one", "met": None},
    }
    if latency is not None and latency["p95_ms"] is not None:
        result["latency"].update(
            users=latency["users"],
            p95_ms=latency["p95_ms"],
            failures=latency["failures"],
            met=latency["p95_ms"] <= LATENCY_TARGET_MS and latency["failures"] == 0,
        )
    if one and two and one["throughput_rps"] and two["throughput_rps"] is not None:
        ratio = round(two["throughput_rps"] / one["throughput_rps"], 2)
        result["scaling"].update(ratio=ratio, met=ratio >= SCALING_TARGET)
    return result


def cpu_ms_per_message(run: Mapping[str, Any], include_other: bool = False) -> float | None:
    """CPU time (ms) the benchmark's processes spent per message answered."""
    cpu = run.get("cpu") or {}
    cores = sum(v for k, v in cpu.get("groups", {}).items() if include_other or k != OTHER)
    if not run.get("throughput_rps"):
        return None
    return round(1000 * cores / run["throughput_rps"], 1)


def rasa_cores(run: Mapping[str, Any]) -> float:
    groups = (run.get("cpu") or {}).get("groups", {})
    return round(sum(v for k, v in groups.items() if k.startswith("rasa")), 2)


def bounds(runs: Sequence[Mapping[str, Any]], cores: int) -> list[str]:
    """What limits the throughput, from the CPU use observed in the throughput runs."""
    one, two = find_run(runs, 1, "throughput"), find_run(runs, 2, "throughput")
    lines: list[str] = []
    for run in (one, two):
        if run is None or not run.get("cpu"):
            continue
        groups = run["cpu"]["groups"]
        shares = ", ".join(f"{k} {v:.2f}" for k, v in sorted(groups.items(), key=lambda g: -g[1]))
        lines.append(
            f"{run['instances']} instance(s), throughput run: the machine was "
            f"{run['cpu']['machine_cores']:.2f} of {cores} cores busy; by group (cores): {shares}."
        )
    if one is None or not one.get("cpu") or not one.get("throughput_rps"):
        return lines
    measured = [r for r in (one, two) if r and r.get("cpu") and r.get("throughput_rps")]
    for run in measured:
        rasa_ms = 1000 * rasa_cores(run) / run["throughput_rps"]
        rest_ms = (cpu_ms_per_message(run) or 0.0) - rasa_ms
        lines.append(
            f"Per message answered with {run['instances']} instance(s): Rasa {rasa_ms:.0f} ms of "
            f"CPU, everything else {rest_ms:.0f} ms (action servers, PostgreSQL, RabbitMQ, the "
            "broker consumer, Redis, nginx and Locust itself)."
        )
    # The ceiling comes from the costliest run measured: with two instances the work outside
    # Rasa (events through RabbitMQ into PostgreSQL) is done within the run; one saturated
    # instance defers part of it.
    basis = measured[-1]
    per_message = cpu_ms_per_message(basis)
    if per_message:
        ceiling = cores * 1000 / per_message
        lines.append(
            f"At the {basis['instances']}-instance cost, {per_message:.0f} ms of CPU a message, "
            f"{cores} cores answer at most ~{ceiling:.0f} messages/s however many instances "
            f"run: {ceiling / one['throughput_rps']:.2f}x the one-instance figure, the ceiling "
            "for the scaling ratio on this machine."
        )
    lines.append(
        f"In the one-instance throughput run Rasa alone used {rasa_cores(one):.2f} cores and the "
        f"machine was {one['cpu']['machine_cores']:.2f} of {cores} cores busy. Each server runs "
        "one compute thread (bot.ops.servers.rasa_env) and one event loop, so one Rasa instance "
        "uses "
        "at most about one core: a second instance uses the other, shared with Locust (the load "
        "generator), PostgreSQL, RabbitMQ and the broker consumer, whose work grows with the "
        "throughput."
    )
    other = max((r.get("cpu") or {}).get("groups", {}).get(OTHER, 0.0) for r in runs)
    lines.append(
        f"Processes outside the benchmark (other engineers' tests on the same machine) used up "
        f"to {other:.2f} cores during the runs, so these figures are noisy; measure again on a "
        "quiet machine for figures to rely on."
    )
    return lines


def figure(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:g}{unit}"


def verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not measured"}[met]


def markdown_report(report: Mapping[str, Any]) -> str:
    runs, goal = report["runs"], report["targets"]
    lines = [
        f"# SEN Support Assistant load benchmark, {report['date']}",
        "",
        f"{report['conditions']}",
        "",
        "| instances | run | users | think time | requests | failures | throughput req/s | "
        "p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['instances']} | {r['phase']} | {r['users']} | {r['think']} | {r['requests']} "
            f"| {r['failures']} | {figure(r['throughput_rps'])} | {figure(r['p50_ms'])} | "
            f"{figure(r['p95_ms'])} | {figure(r['p99_ms'])} |"
        )
    latency, scaling = goal["latency"], goal["scaling"]
    lines += [
        "",
        "## Targets",
        "",
        f"- Latency, 1 instance, {latency.get('users', 'n/a')} conversations at once: "
        f"{latency['target']}: p95 {figure(latency.get('p95_ms'), ' ms')}, "
        f"{figure(latency.get('failures'))} failures: **{verdict(latency['met'])}**.",
        f"- Scaling, 2 instances: {scaling['target']}: "
        f"{figure(scaling.get('ratio'), 'x')}: **{verdict(scaling['met'])}**.",
        "",
        "## What bounds the scaling",
        "",
        *[f"- {line}" for line in report["bounds"]],
    ]
    reasons = Counter()
    for r in runs:
        reasons.update(r.get("failure_reasons") or {})
    if reasons:
        lines += ["", "## Failures", ""]
        lines += [f"- {count} x {reason}" for reason, count in reasons.most_common()]
    lines += [
        "",
        "## Latency by kind of message (p95 ms)",
        "",
        "| instances | run | " + " | ".join(KINDS) + " |",
        "|---|---|" + "---|" * len(KINDS),
    ]
    for r in runs:
        cells = [figure((r["by_kind"].get(k) or {}).get("p95_ms")) for k in KINDS]
        lines.append(f"| {r['instances']} | {r['phase']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


KINDS = ("greeting", "in-guidance", "clarification", "beyond-guidance", "closing")


def write_chart(report: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = [f"{r['instances']} inst.\n{r['phase']}" for r in runs]
    width = 0.27
    for offset, key in ((-width, "p50_ms"), (0.0, "p95_ms"), (width, "p99_ms")):
        left.bar(
            [i + offset for i in range(len(runs))],
            [r[key] or 0 for r in runs],
            width,
            label=key.removesuffix("_ms"),
        )
    left.axhline(LATENCY_TARGET_MS, color="grey", linestyle="--", linewidth=1)
    left.set_xticks(range(len(runs)), labels)
    left.set_ylabel("ms per message")
    left.set_title("Latency percentiles")
    left.legend()
    right.bar(labels, [r["throughput_rps"] or 0 for r in runs], color="tab:green")
    right.set_ylabel("messages per second")
    right.set_title("Throughput")
    fig.suptitle(f"SEN assistant under load ({report['mode']}), {report['date'][:10]}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(report: dict[str, Any], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown = markdown_report(report)
    (out / "load.md").write_text(markdown, encoding="utf-8")
    write_chart(report, out / "load.svg")
    return markdown


# --- running it ------------------------------------------------------------------------------


@dataclass
class RunPlan:
    instances: int
    phase: Phase
    duration: float
    spawn_rate: int


def warm_up(url: str, count: int) -> None:
    """A few conversations through nginx, so each instance has loaded what it loads lazily."""
    for i in range(count):
        request = urllib.request.Request(f"{url}/webhooks/rest/session", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=60) as reply:
            session = json.loads(reply.read())
        body = {**session, "message": WARM_UP_MESSAGES[i % len(WARM_UP_MESSAGES)]}
        request = urllib.request.Request(
            f"{url}/webhooks/rest/webhook",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            reply.read()


def run_locust(
    plan: RunPlan, url: str, scripts: Path, work: Path, roots: Mapping[int, str]
) -> dict[str, Any]:
    name = f"{plan.instances}-{plan.phase.name}"
    samples, csv_prefix = work / f"{name}.jsonl", work / name
    command = [
        str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "--host", url,
        "-u", str(plan.phase.users), "-r", str(plan.spawn_rate), "-t", f"{plan.duration:g}s",
        "--csv", str(csv_prefix), "--only-summary", "--exit-code-on-error", "0",
        "--loglevel", "WARNING", "--scripts", str(scripts), "--samples", str(samples),
        "--think-min", str(plan.phase.think_min), "--think-max", str(plan.phase.think_max),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    print(
        f"  {plan.phase.name}: {plan.phase.users} users, think time {plan.phase.think}, "
        f"{plan.duration:g} s",
        flush=True,
    )
    started = time.monotonic()
    next_report = started + 10
    with (work / f"{name}.log").open("w") as log, CpuMeter(roots) as meter:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(0.5)
            now = time.monotonic()
            if now >= next_report:
                next_report += 10
                done = read_samples(samples)
                bad = sum(1 for s in done if not s.get("ok"))
                print(f"    {now - started:4.0f} s: {len(done)} requests, {bad} failed", flush=True)
            if now - started > plan.duration + 90:
                process.kill()
                raise RuntimeError(f"Locust did not stop; see {work / f'{name}.log'}")
    # Locust has ended (and been waited for) before the last snapshot: its CPU time is read
    # from the rusage of waited-for children instead.
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    locust_seconds = (reaped.ru_utime + reaped.ru_stime) - (children.ru_utime + children.ru_stime)
    meter.groups["locust"] = round(locust_seconds / meter.seconds, 2)
    summary = summarise(read_samples(samples), plan.duration)
    print(
        f"    {summary['requests']} messages, {summary['failures']} failures, "
        f"{summary['throughput_rps']} msg/s, p50/p95/p99 {summary['p50_ms']}/"
        f"{summary['p95_ms']}/{summary['p99_ms']} ms; machine {meter.machine_cores} cores busy",
        flush=True,
    )
    print("    cores: " + ", ".join(f"{k} {v}" for k, v in meter.groups.items()), flush=True)
    return {
        "instances": plan.instances,
        "phase": plan.phase.name,
        "users": plan.phase.users,
        "think": plan.phase.think,
        "duration_s": plan.duration,
        **summary,
        "cpu": {"machine_cores": meter.machine_cores, "groups": meter.groups},
        "locust": locust_stats(Path(f"{csv_prefix}_stats.csv")),
    }


def cluster_roots(cluster: Any) -> dict[int, str]:
    """The cluster's processes by pid, labelled for the CPU table."""
    roots: dict[int, str] = {}
    for i, servers in enumerate(cluster.servers):
        names = ("actions", "rasa")  # bot.ops.servers launches the action server first
        for name, process in zip(names, servers.processes, strict=False):
            roots[process.pid] = f"{name} {i}"
    names = ("broker consumer", "nginx", "adviser API", "console")
    for name, process in zip(names, cluster.processes, strict=False):
        roots[process.pid] = name
    return roots


def drop_run_resources(profile: Any) -> None:
    """Drop the run's databases, delete its RabbitMQ queue and empty Redis db 9."""
    import asyncio

    import aio_pika
    import redis
    import sqlalchemy as sa

    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as db:
            for name in (profile.postgres_url.rsplit("/", 1)[1], profile.tracker_db):
                db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()

    async def delete_queue() -> None:
        connection = await aio_pika.connect(profile.rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(profile.rabbitmq_queue)

    try:
        asyncio.run(delete_queue())
    except Exception as error:  # noqa: BLE001 - cleaning up; say so and go on
        print(f"  (could not delete queue {profile.rabbitmq_queue}: {error})")
    redis.Redis.from_url(profile.redis_url).flushdb()


def start_cluster(cluster: Any, attempts: int = 3) -> None:
    """Start the cluster, trying again when a readiness probe connected to itself.

    A probe of a port nobody listens on yet can be given that same port as its source (when the
    port lies in Linux's ephemeral range, 32768-60999: not the default 28000-28040, but a
    ``--port`` may choose one) and "connect" to itself; it then reads its own request back
    (http.client.BadStatusLine), which bot.ops.servers does not expect."""
    for attempt in range(1, attempts + 1):
        try:
            cluster.start()
            return
        except http.client.HTTPException as error:
            cluster.stop()
            if attempt == attempts:
                raise RuntimeError(f"a readiness probe failed: {error!r}") from error
            print(f"  a readiness probe read {error!r}; starting again", flush=True)
            time.sleep(2)


def measure_instances(
    instances: int,
    phases: Sequence[Phase],
    args: argparse.Namespace,
    work: Path,
    scripts: Path,
    port: int,
) -> list[dict[str, Any]]:
    from bot.ops.cluster import Cluster
    from bot.production.profile import ProductionProfile

    run = f"{secrets.token_hex(4)}_{instances}"
    profile = ProductionProfile(
        postgres_url=f"{POSTGRES}/sen_load_{run}",
        tracker_db=f"sen_load_tracker_{run}",
        redis_url=REDIS_URL,
        rabbitmq_url=RABBITMQ_URL,
        rabbitmq_queue=f"sen_load_{run}",
    )
    cluster = Cluster(
        args.model, profile, instances=instances, port=port,
        data_dir=work / f"cluster-{instances}", with_console=False,
        # Every simulated parent starts a conversation from this one address: measure the
        # assistant, not SEN_SESSION_LIMIT.
        extra_env={"SEN_OPENING_HOURS": "Mon-Sun 00:00-23:59", "SEN_SESSION_LIMIT": "off"},
    )  # fmt: skip
    print(f"== {instances} instance(s): starting the cluster on port {port}...", flush=True)
    started = time.monotonic()
    results = []
    try:
        start_cluster(cluster)
        print(f"  ready in {time.monotonic() - started:.0f} s; warming up", flush=True)
        warm_up(cluster.url, 3 * instances)
        roots = cluster_roots(cluster)
        for phase in phases:
            plan = RunPlan(instances, phase, args.duration, args.spawn_rate)
            results.append(run_locust(plan, cluster.url, scripts, work, roots))
    finally:
        cluster.stop()
        drop_run_resources(profile)
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.loadbench", description=__doc__)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per Locust run")
    parser.add_argument("--quick", action="store_true", help="15 s runs: a smoke test")
    parser.add_argument("--users", type=int, default=32, help="conversations at once")
    parser.add_argument("--spawn-rate", type=int, default=8, help="users started per second")
    # A parent reads an answer (~30 s for 120 words) and types the next question: 5-15 s between
    # messages is already faster than most; --think-min 1 --think-max 3 is a stress variant.
    parser.add_argument("--think-min", type=float, default=5.0)
    parser.add_argument("--think-max", type=float, default=15.0)
    parser.add_argument("--instances", default="1,2", help="cluster sizes, e.g. 1,2")
    parser.add_argument(
        "--port", type=int, default=BASE_PORT, help="nginx; clusters use port..port+36"
    )
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = 15.0
    return args


def conditions(args: argparse.Namespace, phases: Sequence[Phase], load: Sequence[float]) -> str:
    return (
        f"Measured on a {os.cpu_count()}-core machine ({'quick' if args.quick else 'full'} mode, "
        f"{args.duration:g} s per run, load average {load[0]:.1f} at the start). Each parent "
        f"plays a conversation of 3-6 turns from tests/nlu_heldout.yml (a new conversation "
        f"each time) over the REST channel through nginx; runs: "
        + "; ".join(f"{p.name}: {p.users} users, think time {p.think}" for p in phases)
        + ". Latency is per message (the session request is counted apart); throughput is "
        "messages answered per second of the run, ramp-up included. Processes outside the "
        "benchmark shared the machine, so the figures are noisy."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not LOCUST.exists():
        print(f"Locust is not installed at {LOCUST}: run `make bench-load` (it creates it).")
        return 2
    if not args.model.exists():
        print(f"No model at {args.model}: run `make train` first.")
        return 2
    phases = [
        Phase("latency", args.users, args.think_min, args.think_max),
        Phase("throughput", args.users, 0.0, 0.0),
    ]
    load = os.getloadavg()
    runs: list[dict[str, Any]] = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="sen-load-") as directory:
        work = Path(directory)
        scripts = work / "conversations.json"
        plays = conversations(2000, args.seed, question_sets())
        scripts.write_text(json.dumps({"conversations": plays}), encoding="utf-8")
        sizes = [int(n) for n in args.instances.split(",") if n.strip()]
        for index, instances in enumerate(sizes):
            # Each cluster on ports of its own (base, base + 5, ...): a port the last cluster
            # closed can still be held (TIME_WAIT) and the action server then fails to bind.
            port = args.port + PORT_STEP * index
            try:
                runs += measure_instances(instances, phases, args, work, scripts, port)
            except (RuntimeError, OSError) as error:
                print(f"The {instances}-instance cluster failed: {error}")
                failed = 2
                break
    report: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "cores": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in load],
        "phases": [asdict(p) for p in phases],
        "conditions": conditions(args, phases, load),
        "runs": runs,
    }
    report["targets"] = targets(runs)
    report["bounds"] = bounds(runs, os.cpu_count() or 1)
    print(write_report(report, args.out))
    print(f"Wrote {args.out / 'load.json'}, load.md and load.svg")
    return failed


if __name__ == "__main__":
    sys.exit(main())
