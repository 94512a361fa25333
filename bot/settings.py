"""Configuration from environment variables, with defaults that need nothing installed.

| variable | default | what |
|---|---|---|
| SEN_DATA_DIR | ./var | where SQLite files, logs and the API token live |
| SEN_HANDOFF_DB_URL | sqlite:///$SEN_DATA_DIR/handoff.db | SQLAlchemy URL for cases and advisers |
| SEN_EVENTS_DB_URL | sqlite:///$SEN_DATA_DIR/events.db | Rasa event broker, read by the watcher |
| SEN_RASA_URL | http://127.0.0.1:5005 | the Rasa server, for the adviser API |
| SEN_ADVISER_API_PORT | 5056 | the adviser API (loopback only) |
| SEN_OPENING_HOURS | Mon-Fri 09:00-17:00 | when a live hand-off is offered |
| SEN_TIMEZONE | Europe/London | the time zone of the opening hours |
| SEN_ANSWER_THRESHOLD | 0.55 | retrieval similarity needed to answer when NLU is unsure |
| SEN_INTENT_THRESHOLD | 0.35 | classifier confidence that, with retrieval agreeing, still answers |
| SEN_WEB_PORT | 5080 | the web app: the widget's files and the demo page (loopback) |
| SEN_WIDGET_ORIGINS | http://127.0.0.1:5080,http://localhost:5080 | pages that may connect |
| SEN_WIDGET_SECRET | made once in $SEN_DATA_DIR/widget-secret | signs widget conversation tokens |
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bot.opening_hours import OpeningHours

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    handoff_db_url: str
    events_db_url: str
    rasa_url: str
    adviser_api_port: int
    opening_hours: OpeningHours
    answer_threshold: float
    intent_threshold: float


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("SEN_DATA_DIR") or ROOT / "var")
    return Settings(
        data_dir=data_dir,
        handoff_db_url=env.get("SEN_HANDOFF_DB_URL") or f"sqlite:///{data_dir / 'handoff.db'}",
        events_db_url=env.get("SEN_EVENTS_DB_URL") or f"sqlite:///{data_dir / 'events.db'}",
        rasa_url=env.get("SEN_RASA_URL") or "http://127.0.0.1:5005",
        adviser_api_port=int(env.get("SEN_ADVISER_API_PORT") or 5056),
        opening_hours=OpeningHours.parse(
            env.get("SEN_OPENING_HOURS") or "Mon-Fri 09:00-17:00",
            env.get("SEN_TIMEZONE") or "Europe/London",
        ),
        answer_threshold=float(env.get("SEN_ANSWER_THRESHOLD") or 0.55),
        intent_threshold=float(env.get("SEN_INTENT_THRESHOLD") or 0.35),
    )


def stored_secret(data_dir: Path, name: str) -> str:
    """A random secret made once and kept in the data folder, readable by its owner only."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            return path.read_text().strip()
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def jwt_secret(data_dir: Path) -> str:
    """The secret that signs JWTs for Rasa's HTTP API: SEN_RASA_JWT_SECRET, or one made once and
    kept in the data folder (0600)."""
    return os.environ.get("SEN_RASA_JWT_SECRET") or stored_secret(data_dir, "rasa-jwt-secret")
