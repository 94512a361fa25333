"""Files that hold children's data are their owner's only, however they are made: a SQLite
database our code creates, and every process the deployment starts (systemd's UMask)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlalchemy as sa

from bot.cases.db import engine_with_tables, events_engine
from bot.ops.servers import private_child

ROOT = Path(__file__).resolve().parents[2]


def test_a_sqlite_database_is_made_0600_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "data" / "handoff.db"
        engine_with_tables(f"sqlite:///{path}", sa.MetaData())
        events_engine(f"sqlite:///{tmp_path / 'events.db'}").dispose()
    finally:
        os.umask(old)
    for made in (path, tmp_path / "events.db"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o600, made


def test_an_existing_database_left_readable_is_made_private(tmp_path):
    path = tmp_path / "handoff.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    engine_with_tables(f"sqlite:///{path}", sa.MetaData())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_in_memory_database_makes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    engine_with_tables("sqlite:///:memory:", sa.MetaData())
    assert list(tmp_path.iterdir()) == []


def test_a_child_process_creates_files_for_its_owner_only(tmp_path):
    pid = os.fork()
    if pid == 0:  # the child, as subprocess runs preexec_fn
        try:
            private_child()
            (tmp_path / "made-by-child").write_text("x")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert stat.S_IMODE((tmp_path / "made-by-child").stat().st_mode) == 0o600


def test_every_systemd_unit_keeps_what_it_writes_private():
    units = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
    assert units
    for unit in units:
        assert "\nUMask=0077\n" in unit.read_text(), f"{unit.name} has no UMask=0077"
