"""Hand-off to a human adviser: the escalation records the bot opens.

This issue only records escalations; the live hand-off (cases claimed by advisers, paused
conversations, call-backs) builds on this interface. ``HandoffService`` is what the actions call;
``SqlHandoffService`` stores records with SQLAlchemy (a SQLite file by default, PostgreSQL by
URL). A record holds only what an adviser needs to pick the conversation up: no message text,
names or contact details (those stay in the tracker store, under its own retention).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

import sqlalchemy as sa


class Reason(str, enum.Enum):
    BEYOND_GUIDANCE = "beyond_guidance"
    SAFEGUARDING = "safeguarding"
    PARENT_ASKED = "parent_asked"
    REPEATED_MISSES = "repeated_misses"


class Priority(str, enum.Enum):
    URGENT = "urgent"
    NORMAL = "normal"


@dataclass
class Escalation:
    conversation_id: str
    channel: str
    reason: Reason
    topic: str | None = None
    priority: Priority = Priority.NORMAL
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    reference: str = field(default_factory=lambda: "SEN-" + secrets.token_hex(3).upper())


class HandoffService(Protocol):
    def escalate(self, escalation: Escalation) -> Escalation: ...

    def escalations(self, conversation_id: str | None = None) -> list[Escalation]: ...


_metadata = sa.MetaData()
escalations_table = sa.Table(
    "escalations",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),
    sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("topic", sa.String(64)),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class SqlHandoffService:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url, future=True, pool_pre_ping=True)
        _metadata.create_all(self.engine)

    def escalate(self, escalation: Escalation) -> Escalation:
        with self.engine.begin() as connection:
            connection.execute(
                escalations_table.insert().values(
                    reference=escalation.reference,
                    conversation_id=escalation.conversation_id,
                    channel=escalation.channel,
                    reason=escalation.reason.value,
                    topic=escalation.topic,
                    priority=escalation.priority.value,
                    created_at=escalation.created_at,
                )
            )
        return escalation

    def escalations(self, conversation_id: str | None = None) -> list[Escalation]:
        query = sa.select(escalations_table).order_by(escalations_table.c.id)
        if conversation_id is not None:
            query = query.where(escalations_table.c.conversation_id == conversation_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            Escalation(
                conversation_id=row["conversation_id"],
                channel=row["channel"],
                reason=Reason(row["reason"]),
                topic=row["topic"],
                priority=Priority(row["priority"]),
                created_at=row["created_at"],
                reference=row["reference"],
            )
            for row in rows
        ]
