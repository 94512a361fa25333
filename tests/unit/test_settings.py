"""bot/settings.py is the one place that reads SEN_* variables, docs/settings.md lists every one,
and load_settings casts, defaults and refuses as documented."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from bot.settings import (
    ROOT,
    Settings,
    SettingsError,
    jwt_secret,
    load_settings,
    markdown,
    parse_rate_limit,
    variables,
)

CODE_DIRS = ("bot", "actions", "bench")
SETTINGS_MODULE = ROOT / "bot" / "settings.py"
DOCS = ROOT / "docs" / "settings.md"
NAME = re.compile(r"\bSEN_[A-Z0-9_]+")
# A read in one line: os.environ / os.getenv / environ.get with a SEN_ name after it.
READ_LINE = re.compile(r"(os\.environ|os\.getenv|\bgetenv\(|environ\.get)[^\n#]*[\"']SEN_")
READ_METHODS = {"get", "pop", "setdefault", "getenv"}


def code_files() -> list[Path]:
    return sorted(path for folder in CODE_DIRS for path in (ROOT / folder).rglob("*.py"))


def _is_sen(node: ast.AST | None) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("SEN_")
    )


def _looks_like_env(node: ast.AST) -> bool:
    return "env" in ast.unparse(node).lower()


def reads_of_sen_variables(path: Path) -> list[str]:
    """Where ``path`` reads a SEN_* variable: os.environ/os.getenv/environ.get, env.get("SEN_..."),
    env["SEN_..."], "SEN_..." in env, helper(env, "SEN_...") (``env`` being any mapping whose
    name says it is one)."""
    source = path.read_text()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = [
        f"{shown}:{number}: {line.strip()}"
        for number, line in enumerate(source.splitlines(), 1)
        if READ_LINE.search(line)
    ]
    for node in ast.walk(ast.parse(source)):
        where = f"{shown}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and node.args and _is_sen(node.args[0]):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in READ_METHODS:
                found.append(f"{where}: {ast.unparse(node)}")
        if isinstance(node, ast.Call) and any(map(_is_sen, node.args)):
            # a helper handed the environment and a name: setting(env, "SEN_...")
            others = [arg for arg in node.args if isinstance(arg, (ast.Name, ast.Attribute))]
            if any(_looks_like_env(arg) for arg in others):
                found.append(f"{where}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and _is_sen(node.slice)
            and _looks_like_env(node.value)
        ):
            found.append(f"{where}: {ast.unparse(node)}")
        elif isinstance(node, ast.Compare) and _is_sen(node.left):
            if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and any(
                _looks_like_env(other) for other in node.comparators
            ):
                found.append(f"{where}: {ast.unparse(node)}")
    return found


# --- (a) only bot/settings.py reads SEN_* ------------------------------------------------------
def test_only_bot_settings_reads_sen_variables():
    files = [path for path in code_files() if path != SETTINGS_MODULE]
    assert len(files) > 20, "the scan found the code"
    reads = [read for path in files for read in reads_of_sen_variables(path)]
    assert not reads, (
        "SEN_* variables are read only in bot/settings.py; use load_settings(env) and its "
        "fields instead:\n" + "\n".join(reads)
    )


def test_the_scan_recognises_each_way_of_reading(tmp_path):
    sample = tmp_path / "sample.py"
    cases = [
        'import os\nx = os.environ.get("SEN_X")\n',
        'import os\nx = os.environ["SEN_X"]\n',
        'import os\nx = os.getenv("SEN_X", "1")\n',
        'from os import environ\nx = environ.get("SEN_X")\n',
        'def f(env):\n    return env.get(\n        "SEN_X"\n    )\n',
        'def f(env):\n    return env["SEN_X"]\n',
        'def f(env):\n    return "SEN_X" in env\n',
        'def f(env):\n    return setting(env, "SEN_X")\n',
    ]
    for case in cases:
        sample.write_text(case)
        assert reads_of_sen_variables(sample), case
    sample.write_text('child = {"SEN_X": "1"}\nchild["SEN_Y"] = "2"\n')  # writing is fine
    assert not reads_of_sen_variables(sample)


# --- (b) every name in code is documented, and only those ----------------------------------------
def _names_in_code() -> set[str]:
    names = {name for path in code_files() for name in NAME.findall(path.read_text())}
    return {name for name in names if not name.endswith("_")}  # SEN_TELEGRAM_*: a family


def _documented_rows() -> list[str]:
    return re.findall(r"^\| `(SEN_[A-Z0-9_]+)` \|", DOCS.read_text(), flags=re.MULTILINE)


def test_every_variable_in_code_is_a_row_of_docs_settings_and_vice_versa():
    rows = _documented_rows()
    assert len(rows) == len(set(rows)), "a variable is listed twice"
    in_code = _names_in_code()
    assert sorted(in_code - set(rows)) == [], "named in code, missing from docs/settings.md"
    assert sorted(set(rows) - in_code) == [], "in docs/settings.md, named nowhere in code"


def test_docs_settings_is_generated_from_the_settings_fields():
    assert markdown() in DOCS.read_text(), (
        "docs/settings.md is out of date: replace its tables with `python -m bot.settings`"
    )
    assert {variable.name for _, variable in variables()} == set(_documented_rows())


def test_the_retired_rasa_token_is_not_handled_anywhere():
    assert "SEN_RASA_TOKEN" not in _names_in_code()


# --- (c) load_settings --------------------------------------------------------------------------
def test_defaults_need_nothing_installed():
    settings = load_settings({})
    var = ROOT / "var"
    assert settings.data_dir == var
    assert settings.handoff_db_url == f"sqlite:///{var / 'handoff.db'}"
    assert settings.events_db_url == f"sqlite:///{var / 'events.db'}"
    assert settings.tracker_db_url == f"sqlite:///{var / 'rasa.db'}"
    assert settings.rasa_url == "http://127.0.0.1:5005"
    assert settings.rasa_jwt_secret is None
    assert (settings.adviser_api_port, settings.console.port, settings.web.port) == (
        5056,
        5057,
        5080,
    )
    assert (settings.actions.host, settings.actions.port) == ("127.0.0.1", 5055)
    assert settings.web.widget_server == "http://127.0.0.1:5005"
    assert (settings.answer_threshold, settings.intent_threshold) == (0.55, 0.35)
    assert settings.handoff_watcher and settings.console.secure_cookies
    assert settings.console.retention_days == 365
    assert settings.opening_hours.describe()
    assert settings.limits.rate_limit == (20, 60.0) and settings.limits.redis_url is None
    assert settings.widget.origins is None
    assert settings.widget.allowed_origins == ("http://127.0.0.1:5080", "http://localhost:5080")
    assert settings.channels.telegram.token == "" and settings.channels.id_secret is None
    assert settings.channels.telegram.api_url == "https://api.telegram.org"
    assert settings.channels.twilio.api_url == "https://api.twilio.com"
    assert settings.channels.messenger.api_url == "https://graph.facebook.com/v19.0"
    production = settings.production
    assert production.postgres_url == "postgresql://postgres@127.0.0.1:5432/sen"
    assert (production.tracker_db, production.rabbitmq_queue) == ("sen_tracker", "sen_events")
    assert production.redis_url == "redis://127.0.0.1:6379/1"
    assert production.rabbitmq_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert (production.tracker_retry_seconds, production.broker_drain_seconds) == (30.0, 10.0)
    assert production.log_level == "INFO"


def test_values_are_cast_and_derived_paths_follow_the_data_dir(tmp_path):
    settings = load_settings(
        {
            "SEN_DATA_DIR": str(tmp_path),
            "SEN_ADVISER_API_PORT": "15056",
            "SEN_ANSWER_THRESHOLD": "0.7",
            "SEN_HANDOFF_WATCHER": "off",
            "SEN_CONSOLE_SECURE_COOKIES": "0",
            "SEN_RETENTION_DAYS": "30",
            "SEN_RATE_LIMIT": "5/10",
            "SEN_WIDGET_ORIGINS": " https://school.example/ , http://127.0.0.1:8080",
            "SEN_TELEGRAM_TOKEN": "  123:abc \n",
            "SEN_TRACKER_RETRY_SECONDS": "2.5",
            "SEN_OPENING_HOURS": "Mon-Sun 00:00-23:59",
        }
    )
    assert settings.data_dir == tmp_path
    assert settings.handoff_db_url == f"sqlite:///{tmp_path / 'handoff.db'}"
    assert settings.adviser_api_port == 15056 and settings.answer_threshold == 0.7
    assert not settings.handoff_watcher and not settings.console.secure_cookies
    assert settings.console.retention_days == 30
    assert settings.limits.rate_limit == (5, 10.0)
    assert settings.widget.allowed_origins == ("https://school.example", "http://127.0.0.1:8080")
    assert settings.channels.telegram.token == "123:abc"
    assert settings.production.tracker_retry_seconds == 2.5


def test_an_empty_variable_is_the_default():
    assert load_settings({"SEN_ADVISER_API_PORT": "", "SEN_RASA_URL": ""}) == load_settings({})


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("SEN_ADVISER_API_PORT", "fifty"),
        ("SEN_CONSOLE_PORT", "5057.5"),
        ("SEN_ANSWER_THRESHOLD", "high"),
        ("SEN_RETENTION_DAYS", "a year"),
        ("SEN_TRACKER_RETRY_SECONDS", "soon"),
    ],
)
def test_a_value_that_is_not_a_number_is_refused_naming_the_variable(name, raw):
    with pytest.raises(SettingsError) as refused:
        load_settings({name: raw})
    message = str(refused.value)
    assert name in message and repr(raw) in message and "unset it" in message


def test_a_nonsense_rate_limit_or_opening_hours_is_refused_naming_the_variable():
    with pytest.raises(SettingsError, match="SEN_RATE_LIMIT must look like 20/60"):
        load_settings({"SEN_RATE_LIMIT": "fast"})
    with pytest.raises(ValueError):  # SettingsError is a ValueError, as before
        parse_rate_limit("5/0")
    with pytest.raises(SettingsError, match="SEN_OPENING_HOURS"):
        load_settings({"SEN_OPENING_HOURS": "whenever"})
    with pytest.raises(SettingsError, match="SEN_TIMEZONE"):
        load_settings({"SEN_TIMEZONE": "Mars/Olympus"})


def test_the_drain_time_is_lenient_as_before():
    drain = [
        load_settings({"SEN_BROKER_DRAIN_SECONDS": raw}).production.broker_drain_seconds
        for raw in ("2.5", "-1", "x")
    ]
    assert drain == [2.5, 0.0, 10.0]


def test_settings_are_frozen():
    settings = load_settings({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.rasa_url = "http://elsewhere"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.channels.telegram.token = "x"  # type: ignore[misc]
    assert isinstance(settings, Settings)


def test_secrets_stay_out_of_the_repr():
    secret = "a-secret-that-must-not-be-logged"
    env = {
        name: secret
        for name in (
            "SEN_RASA_JWT_SECRET",
            "SEN_WIDGET_SECRET",
            "SEN_REST_SECRET",
            "SEN_CHANNEL_ID_SECRET",
            "SEN_TELEGRAM_TOKEN",
            "SEN_TELEGRAM_SECRET_TOKEN",
            "SEN_TWILIO_AUTH_TOKEN",
            "SEN_MESSENGER_PAGE_TOKEN",
            "SEN_MESSENGER_APP_SECRET",
            "SEN_MESSENGER_VERIFY_TOKEN",
        )
    }
    assert secret not in repr(load_settings(env))


def test_the_jwt_secret_comes_from_the_mapping_given_or_the_data_folder(tmp_path):
    (tmp_path / "rasa-jwt-secret").write_text("file-secret\n")
    given = load_settings({"SEN_DATA_DIR": str(tmp_path), "SEN_RASA_JWT_SECRET": "env-secret"})
    assert jwt_secret(tmp_path, given) == "env-secret"
    assert jwt_secret(tmp_path, load_settings({"SEN_DATA_DIR": str(tmp_path)})) == "file-secret"


def test_os_environ_is_the_default(monkeypatch):
    monkeypatch.setenv("SEN_RASA_URL", "http://127.0.0.1:15005")
    assert load_settings().rasa_url == "http://127.0.0.1:15005"
