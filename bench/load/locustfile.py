"""Parents talking to the assistant over the REST channel, for Locust (``make bench-load``).

Each simulated parent starts a new conversation (``POST /webhooks/rest/session``), then plays
one scripted conversation of 3-6 turns (``POST /webhooks/rest/webhook``), thinking between
messages, and starts again with a new conversation. The scripts are written by
``bench.loadbench`` from the project's own question sets and passed with ``--scripts``.

Runs in its own virtual environment (``.venv-load``: Locust's pins clash with Rasa's), so it
imports nothing from the project. Every request's latency is also appended, one JSON object a
line, to ``--samples``, for ``bench.loadbench`` to compute exact percentiles and per-kind figures.

A message fails when the HTTP status is not 200, the body is not a JSON list, or the assistant
sent no text at all.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from typing import Any

from locust import FastHttpUser, events, task
from locust.env import Environment

SESSION = "session"
MESSAGE = "message"

_state: dict[str, Any] = {"scripts": [], "samples": None, "counter": itertools.count()}


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--scripts", default="", help="JSON file of conversations to play")
    parser.add_argument("--samples", default="", help="JSON-lines file for every request")
    parser.add_argument("--think-min", type=float, default=1.0, help="seconds between messages")
    parser.add_argument("--think-max", type=float, default=3.0, help="seconds between messages")


@events.init.add_listener
def _load(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or not options.scripts:
        raise SystemExit("--scripts is required (bench.loadbench writes it)")
    with open(options.scripts, encoding="utf-8") as file:
        _state["scripts"] = json.load(file)["conversations"]
    if options.samples:
        _state["samples"] = open(options.samples, "a", encoding="utf-8", buffering=1)  # noqa: SIM115


@events.request.add_listener
def _record(
    request_type: str,
    name: str,
    response_time: float,
    exception: BaseException | None,
    context: dict[str, Any],
    **_: Any,
) -> None:
    out = _state["samples"]
    if out is None:
        return
    sample = {
        "t": round(time.time(), 3),
        "name": name,
        "ms": round(response_time, 2),
        "ok": exception is None,
        "kind": (context or {}).get("kind", ""),
        "error": None if exception is None else str(exception)[:200],
    }
    out.write(json.dumps(sample) + "\n")


@events.quitting.add_listener
def _close(**_: Any) -> None:
    if _state["samples"] is not None:
        _state["samples"].close()
        _state["samples"] = None


class Parent(FastHttpUser):
    """One parent at a time: a new conversation each iteration, thinking between messages."""

    # Think time comes before each message of a conversation (``--think-min``/``--think-max``),
    # the first included; a new conversation starts straight after the last one ends.
    wait_time = staticmethod(lambda: 0)
    network_timeout = 60.0
    connection_timeout = 10.0

    def think(self) -> None:
        options = self.environment.parsed_options
        low, high = options.think_min, max(options.think_max, options.think_min)
        if high > 0:
            time.sleep(random.uniform(low, high))

    @task
    def conversation(self) -> None:
        scripts = _state["scripts"]
        turns = scripts[next(_state["counter"]) % len(scripts)]
        with self.client.post(
            "/webhooks/rest/session", data=b"", name=SESSION, catch_response=True
        ) as reply:
            try:
                session = reply.json()
                sender, token = session["sender"], session["token"]
            except (ValueError, KeyError, TypeError):
                reply.failure(f"no session (HTTP {reply.status_code})")
                return
        for turn in turns:
            # Before the first message too: parents arrive at their own moments, not all in the
            # same second (which would measure the start-up burst, not the steady load).
            self.think()
            body = {"sender": sender, "token": token, "message": turn["text"]}
            with self.client.post(
                "/webhooks/rest/webhook",
                json=body,
                name=MESSAGE,
                catch_response=True,
                context={"kind": turn["kind"]},
            ) as reply:
                problem = _problem(reply.status_code, reply.text)
                if problem:
                    reply.failure(problem)
                    return  # the conversation cannot sensibly go on


def _problem(status: int, text: str | None) -> str | None:
    """Why a reply counts as an error, or None when it is a proper answer."""
    if status != 200:
        return f"HTTP {status}"
    try:
        messages = json.loads(text or "")
    except ValueError:
        return "not JSON"
    if not isinstance(messages, list):
        return "not a list of messages"
    if not any(isinstance(m, dict) and str(m.get("text") or "").strip() for m in messages):
        return "empty reply"
    return None
