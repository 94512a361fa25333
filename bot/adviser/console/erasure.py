"""Deleting conversations: one on request (erasure), or all those past the retention period.

A conversation lives in Rasa's tracker store, in the SQL event broker's table, in the cases and
feedback tables and in advisers' corrections; each is cleared. Exports are made on demand from
these, so nothing else holds a copy.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from bot.adviser.console.corrections import Corrections
from bot.cases.store import CaseStore
from bot.cases.transcripts import TranscriptStore

_tracker_metadata = sa.MetaData()
# The columns of rasa.core.tracker_store.SQLTrackerStore.SQLEvent that erasure needs.
tracker_events = sa.Table(
    "events",
    _tracker_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("timestamp", sa.Float),
)


class Eraser:
    def __init__(self, settings: Any) -> None:
        self.tracker_db_url = settings.tracker_db_url
        self.store = CaseStore(settings.db_url)
        self.transcripts = TranscriptStore(settings.events_db_url, settings.db_url)
        self.corrections = Corrections(settings.db_url)

    def _tracker_delete(self, conversation_ids: list[str]) -> int:
        if not conversation_ids:
            return 0
        engine = sa.create_engine(self.tracker_db_url, future=True)
        try:
            if not sa.inspect(engine).has_table("events"):
                return 0
            with engine.begin() as db:
                return db.execute(
                    tracker_events.delete().where(tracker_events.c.sender_id.in_(conversation_ids))
                ).rowcount
        finally:
            engine.dispose()

    def _tracker_stale(self, cutoff: float) -> list[str]:
        engine = sa.create_engine(self.tracker_db_url, future=True)
        try:
            if not sa.inspect(engine).has_table("events"):
                return []
            query = (
                sa.select(tracker_events.c.sender_id)
                .group_by(tracker_events.c.sender_id)
                .having(sa.func.max(tracker_events.c.timestamp) < cutoff)
            )
            with engine.connect() as db:
                return [row.sender_id for row in db.execute(query)]
        finally:
            engine.dispose()

    def erase(self, conversation_id: str) -> int:
        """Remove every record of one conversation; the number of records removed."""
        return (
            self._tracker_delete([conversation_id])
            + self.transcripts.delete_conversation(conversation_id)
            + self.store.delete_conversation(conversation_id)
            + self.corrections.delete_conversation(conversation_id)
        )

    def apply_retention(self, days: int, now: datetime | None = None) -> dict[str, int]:
        """Delete conversations last active more than ``days`` ago, and cases, feedback and
        corrections older than that."""
        if days < 1:
            raise ValueError("The retention period must be at least one day.")
        cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
        stale = sorted(
            set(self.transcripts.conversations_last_active_before(cutoff.timestamp()))
            | set(self._tracker_stale(cutoff.timestamp()))
        )
        removed = {"conversations": len(stale), "records": 0}
        removed["records"] += self._tracker_delete(stale)
        for conversation_id in stale:
            removed["records"] += self.transcripts.delete_conversation(conversation_id)
            removed["records"] += self.store.delete_conversation(conversation_id)
            removed["records"] += self.corrections.delete_conversation(conversation_id)
        removed["records"] += self.store.delete_older_than(cutoff)
        removed["records"] += self.corrections.delete_older_than(cutoff)
        return removed
