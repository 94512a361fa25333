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

from bot.settings import ROOT, stored_secret

VENV_BIN = Path(sys.executable).parent


def die_with_parent() -> None:
    """Run in a child before exec: on Linux, end the child when the process that started it dies,
    so a closed terminal never leaves a server running."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def rasa_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def api_token(data_dir: Path) -> str:
    """The Rasa HTTP API token: SEN_RASA_TOKEN, or one made once and kept in the data folder."""
    return os.environ.get("SEN_RASA_TOKEN") or stored_secret(data_dir, "rasa-api-token")


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


def _wait_for(url: str, timeout: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"A server stopped while starting (exit {process.returncode}). Its log, {log}, "
                f"ends:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                raise RuntimeError(
                    f"{url.split('?')[0]} refused the API token (HTTP {error.code}): another "
                    "server with a different token is probably on that port. Stop it, or use "
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
    def token(self) -> str:
        return api_token(self.data_dir)

    def start(self, timeout: float = 180.0) -> Servers:
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
        if self.web_port is not None and not os.environ.get("SEN_WIDGET_ORIGINS"):
            # The widget's socket accepts the pages of our own web app.
            extra["SEN_WIDGET_ORIGINS"] = (
                f"http://127.0.0.1:{self.web_port},http://localhost:{self.web_port}"
            )
        env = rasa_env({**extra, **self.extra_env})
        endpoints = self.endpoints or write_endpoints(log_dir, self.actions_port, self.data_dir)
        waits: list[tuple[str, subprocess.Popen, Path]] = []

        def launch(name: str, command: list[str], health: str, extra: dict | None = None):
            log_path = log_dir / f"{name}.log"
            with log_path.open("w") as log:
                process = subprocess.Popen(
                    command, cwd=ROOT, env={**env, **(extra or {})}, stdout=log,
                    stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
                )  # fmt: skip
            self.processes.append(process)
            waits.append((health, process, log_path))

        launch(
            "actions",
            [sys.executable, "-m", "bot.action_server", "--port", str(self.actions_port)],
            f"http://127.0.0.1:{self.actions_port}/health",
        )
        launch(
            "rasa",
            [
                str(VENV_BIN / "rasa"),
                "run",
                "--model",
                str(self.model),
                "--interface",
                "127.0.0.1",
                "--port",
                str(self.rasa_port),
                "--enable-api",
                f"--auth-token={self.token}",  # = : a token may start with "-"
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(ROOT / "credentials.yml"),
            ],  # fmt: skip
            f"{self.url}/status?token={self.token}",
        )
        # The adviser API and the console reach Rasa's HTTP API; their databases default to the
        # data folder's, like Rasa's here (bot.settings).
        to_rasa = {"SEN_RASA_URL": self.url, "SEN_RASA_TOKEN": self.token}
        if self.adviser_port is not None:
            launch(
                "adviser-api",
                [sys.executable, "-m", "bot.adviser_api", "serve"],
                f"{self.adviser_url}/health",
                {**to_rasa, "SEN_ADVISER_API_PORT": str(self.adviser_port)},
            )
        if self.web_port is not None:
            launch(
                "web",
                [sys.executable, "-m", "bot.web", "--port", str(self.web_port), "--server",
                 self.url],
                f"{self.web_url}/health",
            )  # fmt: skip
        if self.console_port is not None:
            launch(
                "console",
                [sys.executable, "-m", "bot.console", "serve"],
                f"{self.console_url}/health",
                {**to_rasa, "SEN_CONSOLE_PORT": str(self.console_port)},
            )
        try:
            for url, process, log_path in waits:
                _wait_for(url, timeout, process, log_path)
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
