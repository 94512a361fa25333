"""Configuration from environment variables, with defaults that need nothing installed.

| variable | default | what |
|---|---|---|
| SEN_DATA_DIR | ./var | where SQLite files live (tracker store, escalations) |
| SEN_HANDOFF_DB_URL | sqlite:///$SEN_DATA_DIR/handoff.db | SQLAlchemy URL for escalation records |
| SEN_ANSWER_THRESHOLD | 0.55 | retrieval similarity needed to answer when NLU is unsure |
| SEN_INTENT_THRESHOLD | 0.35 | classifier confidence that, with retrieval agreeing, still answers |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    handoff_db_url: str
    answer_threshold: float
    intent_threshold: float


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("SEN_DATA_DIR") or ROOT / "var")
    return Settings(
        data_dir=data_dir,
        handoff_db_url=env.get("SEN_HANDOFF_DB_URL") or f"sqlite:///{data_dir / 'handoff.db'}",
        answer_threshold=float(env.get("SEN_ANSWER_THRESHOLD") or 0.55),
        intent_threshold=float(env.get("SEN_INTENT_THRESHOLD") or 0.35),
    )
