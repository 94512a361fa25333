from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from bot.assistant import knowledge

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def kb() -> knowledge.KnowledgeBase:
    return knowledge.load()


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    """A writable copy of the real knowledge base, for breaking on purpose."""
    target = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", target)
    return target


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Actions write escalation records into a fresh SQLite file for each test."""
    from actions import runtime

    monkeypatch.setenv("SEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SEN_HANDOFF_DB_URL", raising=False)
    runtime.responder.cache_clear()
    yield tmp_path
    runtime.responder.cache_clear()


def make_tracker(
    text: str,
    intent: str | None,
    confidence: float = 0.95,
    entities: list[dict] | None = None,
    ranking: list[dict] | None = None,
    slots: dict | None = None,
    sender_id: str = "parent-1",
    parts: list[dict] | None = None,
    beyond: float | None = None,
):
    """A real rasa_sdk Tracker built from the JSON fixture of a REST conversation."""
    from rasa_sdk import Tracker

    state = copy.deepcopy(json.loads((FIXTURES / "tracker.json").read_text()))
    state["sender_id"] = sender_id
    state["slots"].update(slots or {})
    intent_data = {"name": intent, "confidence": confidence} if intent else {}
    state["latest_message"] = {
        "text": text,
        "intent": intent_data,
        "intent_ranking": ranking if ranking is not None else ([intent_data] if intent else []),
        "entities": entities or [],
    }
    if parts is not None:
        state["latest_message"]["parts"] = parts
    if beyond is not None:
        state["latest_message"]["beyond"] = beyond
    state["events"].append(
        {
            "event": "user",
            "text": text,
            "parse_data": state["latest_message"],
            "input_channel": "rest",
        }
    )
    return Tracker.from_dict(state)


def run_action(action, tracker) -> tuple[list[dict], dict]:
    """Run a rasa_sdk action: the messages it sent and the slots it set."""
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker, {})
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return dispatcher.messages, slots


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sanic 21.12 rewrites its request handler in place when an app starts; without test mode
    the second app started in one process (tests/helpers/serving.py) fails to rewrite it again."""
    from sanic import Sanic

    monkeypatch.setattr(Sanic, "test_mode", True)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, driven by Playwright (browsers can't be downloaded here)."""
    import os

    from playwright.sync_api import sync_playwright

    executable = os.environ.get("SEN_CHROMIUM") or "/usr/bin/chromium"
    assert Path(executable).exists(), (
        f"Chromium is needed at {executable} (apt-get install chromium)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()
