"""Database engines, made the same way everywhere: SQLite (the default, in the data folder) or
any SQLAlchemy URL such as PostgreSQL, with tables created on first use."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa


def engine_with_tables(url: str, metadata: sa.MetaData) -> sa.engine.Engine:
    """An engine for ``url`` (its SQLite folder made if need be) with ``metadata``'s tables."""
    path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if path is not None and path.name not in ("", ":memory:"):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Children's data: the file is its owner's only, whatever the process's umask.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        path.chmod(0o600)
    # SQLite: wait for another process's write instead of failing at once.
    options = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
    engine = sa.create_engine(url, future=True, pool_pre_ping=True, **options)
    try:
        metadata.create_all(engine)
    except sa.exc.DatabaseError:
        # Another process (Rasa, the action server, an API) made them a moment ago.
        metadata.create_all(engine)
    return engine


# The table Rasa's SQL event broker writes (and bot.production.broker_consumer in production),
# read by the hand-off watcher and the transcripts.
_events_metadata = sa.MetaData()
events_table = sa.Table(
    "events",
    _events_metadata,
    # The same columns as rasa.core.brokers.sql.SQLEventBroker.SQLBrokerEvent.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("data", sa.Text),
)


def events_engine(url: str) -> sa.engine.Engine:
    """An engine on the broker's database, with the ``events`` table created if Rasa has not
    yet, so the watcher can start before Rasa does."""
    return engine_with_tables(url, _events_metadata)
