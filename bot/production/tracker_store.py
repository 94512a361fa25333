"""Rasa's SQL tracker store, made to ride out a short database outage and to fail loudly.

Rasa wraps every tracker store in ``FailSafeTrackerStore``. When a save fails it logs one line and
saves the tracker *in memory* instead; nothing ever reads that copy back (retrieval goes to the
database only), so the turn is lost from PostgreSQL, and all of it is lost when Rasa restarts.
When a *read* fails it returns "no tracker", and Rasa carries on with a new, empty conversation:
the parent's history is ignored and the next save writes a mangled tail of it.

``ResilientSQLTrackerStore`` (endpoints: ``type:
bot.production.tracker_store.ResilientSQLTrackerStore``,
with the usual SQL settings) changes that:

- a read or a save that fails because the database can't be reached is tried again, with
  backoff, for up to ``retry_seconds`` (endpoint setting, else ``SEN_TRACKER_RETRY_SECONDS``,
  default 30): a PostgreSQL restart of a few seconds loses nothing and keeps the order. A save
  is one unit (read what is stored, write the rest, commit), so a retry never writes an event
  twice; events go to the event broker only once they are stored;
- a save that still fails is logged at ERROR with ``TRACKER NOT SAVED``, counted, and raised: Rasa
  then falls back to memory, and that fallback is logged at ERROR with ``TRACKER STORE
  FALLBACK`` and counted too (the parent already had the answer; that turn is missing from
  PostgreSQL);
- a read that still fails is logged at ERROR with ``TRACKER NOT READ``, counted, and raised
  *through* the fail-safe wrapper, so Rasa does not go on with an empty conversation: the
  message is not handled, nothing is saved, and the channel gives the parent its polite trouble
  reply (bot.channels.trouble) to try again.

The counts are in ``$SEN_DATA_DIR/tracker-store-faults.<pid>.json`` (one file per Rasa process;
``fault_counts()`` adds them up), for monitoring to alert on anything above zero.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    SQLTrackerStore,
    create_engine_kwargs,
)
from rasa.shared.core.trackers import DialogueStateTracker, TrackerEventDiffEngine
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.settings import load_settings

logger = logging.getLogger("bot.production.tracker_store")

NOT_SAVED = "TRACKER NOT SAVED"
NOT_READ = "TRACKER NOT READ"
FALLBACK = "TRACKER STORE FALLBACK"
_FAULT_FILE = "tracker-store-faults.{pid}.json"
_T = TypeVar("_T")
# Inside a save, its own read of what is stored must not start a second round of retries.
_in_attempt: contextvars.ContextVar[bool] = contextvars.ContextVar("sen_in_attempt", default=False)


class TrackerNotSaved(Exception):
    """The database could not be reached to save a tracker within the retry budget."""


class TrackerNotRead(Exception):
    """The database could not be reached to read a tracker within the retry budget."""


def _is_unreachable(error: BaseException) -> bool:
    """A lost or refused connection (worth retrying), not a bad query."""
    return isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError)) or bool(
        getattr(error, "connection_invalidated", False)
    )


# --- counting faults -------------------------------------------------------------------------
_counts_lock = threading.Lock()
_counts: dict[str, Any] = {"not_saved": 0, "not_read": 0, "fallback": 0, "last": None}


def _data_dir() -> Path:
    return load_settings().data_dir


def record_fault(kind: str) -> None:
    """Count a fault of ``kind`` (not_saved, not_read, fallback) in this process's file."""
    with _counts_lock:
        _counts[kind] += 1
        _counts["last"] = {"kind": kind, "time": time.time()}
        snapshot = json.dumps(_counts)
    try:
        directory = _data_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / _FAULT_FILE.format(pid=os.getpid())
        partial = path.with_suffix(".tmp")
        partial.write_text(snapshot)
        partial.replace(path)
    except OSError:
        logger.exception("Could not write the tracker store's fault counts.")


def fault_counts(data_dir: Path) -> dict[str, int]:
    """The fault counts of every Rasa process that used ``data_dir``, added up."""
    total = {"not_saved": 0, "not_read": 0, "fallback": 0}
    for path in data_dir.glob(_FAULT_FILE.format(pid="*")):
        counts = json.loads(path.read_text())
        for kind in total:
            total[kind] += int(counts.get(kind, 0))
    return total


# --- the store -------------------------------------------------------------------------------
class ResilientSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore that retries through a short outage and fails loudly after it."""

    def __init__(self, *args: Any, retry_seconds: float | str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.retry_seconds = (
            float(retry_seconds)
            if retry_seconds
            else load_settings().production.tracker_retry_seconds
        )
        # Test each pooled connection before use: after a restart the pool holds dead ones.
        old = self.engine
        self.engine = sa.create_engine(old.url, pool_pre_ping=True, **create_engine_kwargs(old.url))
        old.dispose()
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """``attempt()``, tried again while the database is unreachable, with backoff (0.2 s
        doubling to 2 s), the last try at the end of the budget."""
        deadline = time.monotonic() + self.retry_seconds
        delay, tries = 0.2, 0
        while True:
            tries += 1
            token = _in_attempt.set(True)
            try:
                return await attempt()
            except Exception as error:
                left = deadline - time.monotonic()
                if not _is_unreachable(error) or left <= 0:
                    raise
                logger.warning(
                    "The tracker store could not %s (try %d, %s); trying again in %.1f s.",
                    what, tries, type(error).__name__, min(delay, left),
                )  # fmt: skip
            finally:
                _in_attempt.reset(token)
            await asyncio.sleep(min(delay, max(left, 0.0)))
            delay = min(delay * 2, 2.0)

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        read = super()._retrieve
        if _in_attempt.get():
            return await read(sender_id, fetch_events_from_all_sessions)
        try:
            return await self._retrying(
                "read a tracker", lambda: read(sender_id, fetch_events_from_all_sessions)
            )
        except Exception as error:
            if not _is_unreachable(error):
                raise
            record_fault("not_read")
            logger.error(
                "%s: conversation %s could not be read for %.0f s (%s); the message is not "
                "handled and the parent is asked to try again.",
                NOT_READ, sender_id, self.retry_seconds, error,
            )  # fmt: skip
            raise TrackerNotRead(f"{NOT_READ}: {sender_id}") from error

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the events not stored yet, then publish them to the event broker."""

        async def attempt() -> list:
            new_events = []
            if self.event_broker is not None:
                stored = await self.retrieve(tracker.sender_id)
                new_events = TrackerEventDiffEngine.event_difference(stored, tracker)
            self._write(tracker)
            return new_events

        try:
            new_events = await self._retrying("save a tracker", attempt)
        except Exception as error:
            if not _is_unreachable(error):
                raise
            record_fault("not_saved")
            logger.error(
                "%s: conversation %s could not be saved to the database for %.0f s (%s). "
                "Its latest turn is not in PostgreSQL; Rasa keeps it in memory only.",
                NOT_SAVED, tracker.sender_id, self.retry_seconds, error,
            )  # fmt: skip
            raise TrackerNotSaved(f"{NOT_SAVED}: {tracker.sender_id}") from error
        if self.event_broker is not None:
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)

    def _write(self, tracker: DialogueStateTracker) -> None:
        """SQLTrackerStore.save's database part: add the events not stored yet, one commit."""
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = event.as_dict()
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=data.get("parse_data", {})
                        .get("intent", {})
                        .get(INTENT_NAME_KEY),
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()


# --- Rasa's fail-safe wrapper, made loud -----------------------------------------------------
def _install_fail_safe_hooks() -> None:
    """Report the in-memory fallback, and let a failed read through, for our store only (the
    wrapper is made by Rasa's Agent and can't be configured)."""
    if getattr(FailSafeTrackerStore, "_sen_hooks", False):
        return
    on_error = FailSafeTrackerStore.on_tracker_store_error
    on_retrieve_error = FailSafeTrackerStore.on_tracker_store_retrieve_error

    def on_tracker_store_error(self: FailSafeTrackerStore, error: Exception) -> None:
        if isinstance(self._tracker_store, ResilientSQLTrackerStore) and isinstance(
            error, TrackerNotSaved
        ):
            record_fault("fallback")
            logger.error(
                "%s: Rasa is keeping a tracker in memory only; it is lost when Rasa restarts. "
                "(%s)",
                FALLBACK, error,
            )  # fmt: skip
        on_error(self, error)

    def on_tracker_store_retrieve_error(self: FailSafeTrackerStore, error: Exception) -> None:
        if isinstance(self._tracker_store, ResilientSQLTrackerStore):
            raise error  # never go on with an empty conversation
        on_retrieve_error(self, error)

    FailSafeTrackerStore.on_tracker_store_error = on_tracker_store_error  # type: ignore
    FailSafeTrackerStore.on_tracker_store_retrieve_error = on_tracker_store_retrieve_error  # type: ignore
    FailSafeTrackerStore._sen_hooks = True  # type: ignore[attr-defined]


_install_fail_safe_hooks()
