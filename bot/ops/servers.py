"""Starting and stopping the Rasa server and the action server together.

Used by ``make run`` / ``make shell`` (through ``python -m bot``), by the server tests and by the
benchmark, so every one of them runs the assistant the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bot.cases.rasa_client import api_headers
from bot.channels.limits import MAX_REQUEST_BYTES
from bot.settings import ROOT, actions_secret, jwt_secret, load_settings

VENV_BIN = Path(sys.executable).parent


def die_with_parent() -> None:
    """Run in a child before exec: on Linux, end the child when the process that started it dies,
    so a closed terminal never leaves a server running."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def private_child() -> None:
    """Run in a child before exec: whatever it creates (SQLite databases, secrets, logs) is
    readable by its owner only (umask 077), and it ends when the process that started it dies."""
    os.umask(0o077)
    die_with_parent()


def rasa_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["RASA_TELEMETRY_ENABLED"] = "false"  # always: no conversation data leaves the machine
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    # One compute thread per process: several servers share few cores, and BLAS/TensorFlow thread
    # pools fighting over them cost more than they give (measured: 2 instances went from 1.16x
    # to 2.0x the throughput of one, `make bench-load --quick`).
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):  # fmt: skip
        env.setdefault(name, "1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def write_endpoints(directory: Path, actions_port: int, data_dir: Path) -> Path:
    """endpoints.yml for a run whose SQLite files live in ``data_dir``."""
    path = directory / "endpoints.yml"
    path.write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{actions_port}/webhook"\n'
        f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{data_dir / "rasa.db"}"\n'
        f'event_broker:\n  type: SQL\n  dialect: "sqlite"\n  db: "{data_dir / "events.db"}"\n'
    )
    return path


def wait_for(
    url: str,
    timeout: float,
    process: subprocess.Popen,
    log: Path,
    secret: str | None = None,
) -> None:
    """Wait until ``url`` answers 200; ``secret``: authenticate with a JWT (Rasa's /status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"A server stopped while starting (exit {process.returncode}). Its log, {log}, "
                f"ends:\n{log.read_text()[-3000:]}"
            )
        try:
            headers = api_headers(secret) if secret else {}
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=2) as reply:
                if reply.status == 200:
                    return
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                raise RuntimeError(
                    f"{url} refused the API's JWT (HTTP {error.code}): another server with a "
                    "different JWT secret is probably on that port. Stop it, or use "
                    "other ports."
                ) from None
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s; see {log}")


@dataclass
class Servers:
    model: Path
    rasa_port: int = 5005
    actions_port: int = 5055
    adviser_port: int | None = 5056  # the adviser API and hand-off watcher; None: not started
    web_port: int | None = None  # the web app (widget files, demo page); None: not started
    console_port: int | None = None  # the adviser console; None: not started
    data_dir: Path = field(default_factory=lambda: ROOT / "var")
    endpoints: Path | None = None
    log_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def adviser_url(self) -> str:
        return f"http://127.0.0.1:{self.adviser_port}"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def jwt_secret(self) -> str:
        return jwt_secret(self.data_dir)

    @property
    def actions_secret(self) -> str:
        """What Rasa sends the action server, which refuses calls without it."""
        return actions_secret(self.data_dir)

    def api_headers(self) -> dict[str, str]:
        """Authenticates one request to Rasa's HTTP API (a JWT valid for five minutes)."""
        return api_headers(self.jwt_secret)

    def start(self, timeout: float = 180.0, wait: bool = True) -> Servers:
        ports = (
            self.actions_port,
            self.rasa_port,
            self.adviser_port,
            self.web_port,
            self.console_port,
        )
        busy = [p for p in ports if p is not None and not port_is_free(p)]
        if busy:
            raise RuntimeError(
                f"Port(s) {', '.join(map(str, busy))} are already in use, perhaps by another "
                "copy of the assistant (`make run`). Stop it first, or choose other ports."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_dir = self.log_dir or Path(tempfile.mkdtemp(prefix="sen-logs-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        extra = {"SEN_DATA_DIR": str(self.data_dir)}
        if self.web_port is not None and load_settings().widget.origins is None:
            # The widget's socket accepts the pages of our own web app.
            extra["SEN_WIDGET_ORIGINS"] = (
                f"http://127.0.0.1:{self.web_port},http://localhost:{self.web_port}"
            )
        env = rasa_env({**extra, **self.extra_env})
        endpoints = self.endpoints or write_endpoints(log_dir, self.actions_port, self.data_dir)
        waits: list[tuple[str, subprocess.Popen, Path, str | None]] = []

        def launch(
            name: str,
            command: list[str],
            health: str,
            extra: dict | None = None,
            secret: str | None = None,
        ) -> None:
            log_path = log_dir / f"{name}.log"
            with log_path.open("w") as log:
                log_path.chmod(0o600)  # what parents wrote can reach a log
                process = subprocess.Popen(
                    command, cwd=ROOT, env={**env, **(extra or {})}, stdout=log,
                    stderr=subprocess.STDOUT, preexec_fn=private_child,
                )  # fmt: skip
            self.processes.append(process)
            waits.append((health, process, log_path, secret))

        # The action server refuses calls without this secret; Rasa sends it (bot.plugins.rasa_run).
        to_actions = {"SEN_ACTIONS_SECRET": self.actions_secret}
        launch(
            "actions",
            [sys.executable, "-m", "actions.server", "--port", str(self.actions_port)],
            f"http://127.0.0.1:{self.actions_port}/health",
            to_actions,
        )
        launch(
            "rasa",
            [
                sys.executable,
                "-m",
                "bot.plugins.rasa_run",  # `rasa run`, --jwt-secret from the environment
                "--model",
                str(self.model),
                "--interface",
                "127.0.0.1",
                "--port",
                str(self.rasa_port),
                "--enable-api",  # JWT only: no --auth-token (a token in URLs) and never --cors
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(ROOT / "credentials.yml"),
            ],  # fmt: skip
            f"{self.url}/status",
            # Sanic refuses bodies over this with 413 (webhooks, HTTP API, socket.io polling).
            {
                "SANIC_REQUEST_MAX_SIZE": str(MAX_REQUEST_BYTES),
                "SEN_RASA_JWT_SECRET": self.jwt_secret,
                **to_actions,
            },
            secret=self.jwt_secret,
        )
        # The adviser API and the console reach Rasa's HTTP API; their databases default to the
        # data folder's, like Rasa's here (bot.settings).
        to_rasa = {"SEN_RASA_URL": self.url, "SEN_RASA_JWT_SECRET": self.jwt_secret}
        if self.adviser_port is not None:
            launch(
                "adviser-api",
                [sys.executable, "-m", "bot.adviser.api", "serve"],
                f"{self.adviser_url}/health",
                {**to_rasa, "SEN_ADVISER_API_PORT": str(self.adviser_port)},
            )
        if self.web_port is not None:
            launch(
                "web",
                [sys.executable, "-m", "bot.ops.web", "--port", str(self.web_port), "--server",
                 self.url],
                f"{self.web_url}/health",
            )  # fmt: skip
        if self.console_port is not None:
            launch(
                "console",
                [sys.executable, "-m", "bot.adviser.console", "serve"],
                f"{self.console_url}/health",
                {**to_rasa, "SEN_CONSOLE_PORT": str(self.console_port)},
            )
        self._waits = waits
        return self.wait_until_ready(timeout) if wait else self

    def wait_until_ready(self, timeout: float = 180.0) -> Servers:
        """Wait until every started server answers (stopping them all if one fails)."""
        try:
            for url, process, log_path, secret in self._waits:
                wait_for(url, timeout, process, log_path, secret)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes.clear()

    def __enter__(self) -> Servers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
