"""A latency reference: a bare `rasa init` bot, timed on the same machine in the same run.

    PYTHONPATH=. RASA_TELEMETRY_ENABLED=false .venv/bin/python -m bench.reference

Machines here differ by 2x, so the assistant's milliseconds only mean something beside those of
Rasa's own starter bot (its init template, untouched: the default pipeline, the in-memory tracker
store, no action server) answering the same questions on the same machine. The template is
trained once and the model cached under build/reference/, keyed by the Rasa version and a hash of
the template's files, so later runs reuse it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from itertools import cycle, islice
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.accuracy import WARM_UP_MESSAGES, Client, heldout_questions, percentile
from bot.ops.servers import VENV_BIN, die_with_parent, rasa_env, wait_for
from bot.settings import ROOT

DEFAULT_CACHE = ROOT / "build" / "reference"
MODEL_NAME = "reference"
TRAINING_TIMEOUT = 900.0  # seconds
STARTUP_TIMEOUT = 180.0
PROGRESS_EVERY = 10.0  # seconds between "still training" lines
IGNORED = ("__pycache__", "*.pyc")  # not part of the template: Python writes them on import


class ReferenceBotError(Exception):
    """The reference bot could not be trained or served; the message says what to do."""


# --- the template and its cache key ----------------------------------------------------------


def template_dir() -> Path:
    """The init template of the installed Rasa (what `rasa init` copies), found without
    importing Rasa."""
    spec = importlib.util.find_spec("rasa")
    if spec is None or not spec.submodule_search_locations:
        raise ReferenceBotError("Rasa is not installed in this Python: run `make install`.")
    return Path(next(iter(spec.submodule_search_locations))) / "cli" / "initial_project"


def rasa_version() -> str:
    return importlib.metadata.version("rasa")


def template_files(template: Path) -> list[Path]:
    """The template's files, sorted, without Python's byte-code caches."""
    return sorted(
        path
        for path in template.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.relative_to(template).parts
        and path.suffix != ".pyc"
    )


def cache_key(template: Path, version: str) -> str:
    """``rasa-<version>-<hash>``: the hash covers each file's path inside the template and its
    bytes, so it does not depend on where the template is installed."""
    digest = hashlib.sha256()
    for path in template_files(template):
        relative = path.relative_to(template).as_posix().encode()
        content = path.read_bytes()
        for part in (relative, content):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return f"rasa-{version}-{digest.hexdigest()[:16]}"


# --- training --------------------------------------------------------------------------------


def _tail(log: Path, characters: int = 2000) -> str:
    return log.read_text(errors="replace")[-characters:]


def _train(project: Path, out: Path, rasa: Path, timeout: float) -> None:
    """``rasa train`` in ``project``, its output to a log; a progress line every few seconds."""
    command = [
        str(rasa),
        "train",
        "--fixed-model-name",
        MODEL_NAME,
        "--out",
        str(out),
    ]
    log_path = out / "train.log"
    print("Training the reference bot (rasa train, about a minute)...", flush=True)
    start = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=project,
            env=rasa_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            while True:
                try:
                    process.wait(timeout=PROGRESS_EVERY)
                    break
                except subprocess.TimeoutExpired:
                    elapsed = time.monotonic() - start
                    if elapsed > timeout:
                        raise ReferenceBotError(
                            f"Training the reference bot took over {timeout:.0f} s. Its log "
                            f"ends:\n{_tail(log_path)}"
                        ) from None
                    print(f"  still training, {elapsed:.0f} s", flush=True)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if process.returncode != 0:
        raise ReferenceBotError(
            f"Training the reference bot failed (exit {process.returncode}). Its log ends:\n"
            f"{_tail(log_path)}"
        )
    print(f"  trained in {time.monotonic() - start:.0f} s", flush=True)


def reference_model(
    cache_dir: Path = DEFAULT_CACHE,
    *,
    template: Path | None = None,
    version: str | None = None,
    rasa: Path = VENV_BIN / "rasa",
    timeout: float = TRAINING_TIMEOUT,
) -> Path:
    """The trained reference model, from ``cache_dir`` if this Rasa version already trained this
    template there, else trained now (a copy of the template in a temporary folder) and cached.

    The cache entry is written whole or not at all: training happens in a temporary folder
    inside ``cache_dir`` that is renamed into place once the model exists.
    """
    template = template or template_dir()
    version = version or rasa_version()
    key = cache_key(template, version)
    entry = Path(cache_dir) / key
    model = entry / f"{MODEL_NAME}.tar.gz"
    if model.exists():
        print(f"Reference model: {model} (cached)", flush=True)
        return model
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=entry.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="sen-reference-") as directory:
            project = Path(directory) / "project"
            shutil.copytree(template, project, ignore=shutil.ignore_patterns(*IGNORED))
            _train(project, staging, rasa, timeout)
        if not (staging / model.name).exists():
            raise ReferenceBotError(f"Training finished but wrote no {model.name}; see {staging}.")
        try:
            staging.rename(entry)
        except OSError:  # another run cached it meanwhile
            if not model.exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"Reference model: {model} (trained now, cached for later runs)", flush=True)
    return model


# --- serving ---------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it, as tests/helpers/ports.py)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rasa_run_command(model: Path, template: Path | None = None) -> Callable[[int], list[str]]:
    """`rasa run --enable-api` for ``model``, with the template's own credentials and endpoints
    (the REST channel, the in-memory tracker store, no action server)."""
    template = template or template_dir()

    def command(port: int) -> list[str]:
        return [
            str(VENV_BIN / "rasa"),
            "run",
            "--enable-api",
            "--model",
            str(model),
            "--interface",
            "127.0.0.1",
            "--port",
            str(port),
            "--credentials",
            str(template / "credentials.yml"),
            "--endpoints",
            str(template / "endpoints.yml"),
        ]

    return command


class ReferenceServer:
    """Serves the reference model on a free port for the ``with`` block, then stops it.

        with ReferenceServer(reference_model()) as server:
            timings = time_first_messages(server.url, texts)

    ``command`` (port -> argv) and ``ready_path`` replace `rasa run` and its /status, for tests.
    ``log``: where the server's output goes (default: a temporary file, removed on stop; a server
    that fails to start has its log's end in the error).
    The server runs in a process group of its own, which is ended on leaving the block, on an
    exception too, and if this process dies first.
    """

    def __init__(
        self,
        model: Path | None = None,
        *,
        port: int | None = None,
        command: Callable[[int], Sequence[str]] | None = None,
        ready_path: str = "/status",
        timeout: float = STARTUP_TIMEOUT,
        log: Path | None = None,
    ) -> None:
        if model is None and command is None:
            raise ValueError("ReferenceServer needs a model or a command")
        self.port = port or free_port()
        self.command = list((command or rasa_run_command(Path(model)))(self.port))
        self.ready_path = ready_path
        self.timeout = timeout
        self.log = log
        self.process: subprocess.Popen | None = None
        self._running = False
        self._directory: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ReferenceServer:
        # Its own working folder, so `rasa run` picks up nothing of this project's.
        self._directory = tempfile.TemporaryDirectory(prefix="sen-reference-run-")
        log_path = self.log or Path(self._directory.name) / "rasa.log"
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self._directory.name,
                env=rasa_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own: stop() ends whatever it started
                preexec_fn=die_with_parent,
            )
        self._running = True
        try:
            wait_for(self.url + self.ready_path, self.timeout, self.process, log_path)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End the server's process group (SIGTERM, then SIGKILL after 20 s); idempotent."""
        if self.process is not None and self._running:
            self._running = False
            self._end(self.process)
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    @staticmethod
    def _end(process: subprocess.Popen) -> None:
        def signal_group(sig: int) -> None:
            try:
                os.killpg(process.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

        signal_group(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            signal_group(signal.SIGKILL)
            process.wait(timeout=10)
        # Whatever the server started is in its group; the group's id cannot be reused while
        # any of them lives, so this reaches only those.
        signal_group(signal.SIGKILL)

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# --- timing ----------------------------------------------------------------------------------


def time_first_messages(
    url: str, texts: Sequence[str], warm_up: int = 5, timeout: float = 30.0
) -> list[float]:
    """Milliseconds for each text sent as the first message of a new conversation (a new sender
    id each) to Rasa's REST channel, one after the other, after ``warm_up`` untimed messages
    (the benchmark's warm-up messages). Raises ReferenceBotError if a message gets no 200."""
    client = Client(url.rstrip("/"), secret="", timeout=timeout)

    def send(text: str) -> float:
        outcome = client.send(f"reference-{uuid.uuid4().hex}", text)
        if outcome.status != 200:
            raise ReferenceBotError(
                f"The reference bot at {url} did not answer {text[:60]!r}: "
                f"{outcome.error or outcome.status}"
            )
        return outcome.seconds * 1000

    for text in islice(cycle(WARM_UP_MESSAGES), warm_up):
        send(text)
    return [send(text) for text in texts]


def summary(milliseconds: Sequence[float]) -> dict[str, Any]:
    """messages, p50_ms, p95_ms, max_ms, as bench.accuracy.latency reports them."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "messages": len(milliseconds),
        "p50_ms": rounded(percentile(milliseconds, 50)),
        "p95_ms": rounded(percentile(milliseconds, 95)),
        "max_ms": rounded(max(milliseconds) if milliseconds else None),
    }


def sample_questions() -> list[str]:
    """The benchmark's one-conversation questions (held-out in-guidance and beyond-guidance),
    so the reference answers the same texts as the assistant."""
    return [q.text for q in heldout_questions()]


def measure_reference(
    texts: Sequence[str] | None = None, cache_dir: Path = DEFAULT_CACHE
) -> dict[str, Any]:
    """Train or reuse the reference model, serve it, time ``texts`` (default: the benchmark's
    questions); the figures, with the model's cache key."""
    texts = list(sample_questions() if texts is None else texts)
    model = reference_model(cache_dir)
    print("Starting the reference bot...", flush=True)
    with ReferenceServer(model) as server:
        print(f"Timing {len(texts)} first messages at {server.url}...", flush=True)
        timings = time_first_messages(server.url, texts)
    return {"model": model.parent.name, **summary(timings)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="model cache folder")
    args = parser.parse_args(argv)
    try:
        figures = measure_reference(cache_dir=args.cache)
    except (ReferenceBotError, RuntimeError, OSError) as error:
        print(f"\nThe reference could not be measured: {error}", file=sys.stderr)
        return 2
    print(
        f"\nReference bot ({figures['model']}), {figures['messages']} first messages: "
        f"p50 {figures['p50_ms']:.0f} ms, p95 {figures['p95_ms']:.0f} ms, "
        f"max {figures['max_ms']:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
