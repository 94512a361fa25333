"""Hand-off to a human adviser: cases, advisers and their availability.

Every escalation opens a **case**: why (beyond the guidance, safeguarding, the parent asked,
repeated misses), how urgent, its status (waiting, live, call-back requested, closed), who holds
it, a short summary and, when closed, an outcome. Cases are stored with SQLAlchemy Core: a SQLite
file by default, PostgreSQL (or any SQLAlchemy URL) through ``SEN_HANDOFF_DB_URL``.

Claiming is one conditional UPDATE, so two advisers claiming the same case at once can't both
win, on SQLite or PostgreSQL. Contact details are stored only for a call-back the parent consented
to, and are cleared when the case is closed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from bot.cases.db import engine_with_tables
from bot.contract import OPEN_STATUSES, Callback, Case, Priority, Reason, Status, _now


class CaseError(Exception):
    """A case operation that can't be done; ``code`` is the HTTP status an API should give."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# The largest case id: PostgreSQL's INTEGER. A larger id (a URL's, say) names no case; sent to the
# database it would fail (SQLite can't bind an int over 64 bits, PostgreSQL's INTEGER overflows).
MAX_CASE_ID = 2**31 - 1


def _existing_id(case_id: int) -> int:
    """``case_id`` if a case could have it; else the 404 a missing case gets."""
    if isinstance(case_id, bool) or not isinstance(case_id, int) or not 0 < case_id <= MAX_CASE_ID:
        raise CaseError(f"There is no case {case_id}.", 404)
    return case_id


_metadata = sa.MetaData()
cases_table = sa.Table(
    "handoff_cases",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),
    sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("topic", sa.String(64)),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("status", sa.String(24), nullable=False, index=True),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    # The bot is paused (silent) for this conversation while the case is handled live.
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("adviser", sa.String(64)),
    sa.Column("outcome", sa.Text),
    sa.Column("callback_contact", sa.String(255)),
    sa.Column("callback_time", sa.String(255)),
    sa.Column("callback_name", sa.String(64)),
    sa.Column("callback_consented_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
)
# At most one open case per conversation, even when two processes open one at the same moment.
sa.Index(
    "one_open_case_per_conversation",
    cases_table.c.conversation_id,
    unique=True,
    sqlite_where=cases_table.c.status.in_(OPEN_STATUSES),
    postgresql_where=cases_table.c.status.in_(OPEN_STATUSES),
)
advisers_table = sa.Table(
    "handoff_advisers",
    _metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("first_name", sa.String(64), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("available", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
# "Was this helpful?" under an answer: one row per answer message, the parent's first choice.
feedback_table = sa.Table(
    "answer_feedback",
    _metadata,
    sa.Column("conversation_id", sa.String(255), primary_key=True),
    sa.Column("message_id", sa.String(32), primary_key=True),
    sa.Column("article", sa.String(64), nullable=False, index=True),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass
class Adviser:
    username: str
    first_name: str
    available: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time here is stored in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


class CaseStore:
    """Cases, advisers and parents' feedback on answers in one SQL database."""

    def __init__(self, url: str) -> None:
        self.engine = engine_with_tables(url, _metadata)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Columns added after a database was first made (create_all adds tables only)."""
        present = {c["name"] for c in sa.inspect(self.engine).get_columns("handoff_cases")}
        if "claimed_at" not in present:
            kind = cases_table.c.claimed_at.type.compile(dialect=self.engine.dialect)
            try:
                with self.engine.begin() as db:
                    db.execute(sa.text(f"ALTER TABLE handoff_cases ADD COLUMN claimed_at {kind}"))
            except sa.exc.DatabaseError:  # another process added it a moment ago
                pass

    # --- cases -----------------------------------------------------------------------------
    def open_case(self, case: Case) -> Case:
        """Open a case, or return the conversation's open one (raised to urgent if need be)."""
        existing = self.open_case_for(case.conversation_id)
        if existing is None:
            try:
                with self.engine.begin() as db:
                    inserted = db.execute(cases_table.insert().values(**self._row(case)))
                case.id = inserted.inserted_primary_key[0]
                return case
            except sa.exc.IntegrityError:
                # Another process opened one a moment ago: use that one.
                existing = self.open_case_for(case.conversation_id)
        if case.priority is Priority.URGENT and existing.priority is not Priority.URGENT:
            with self.engine.begin() as db:
                db.execute(
                    cases_table.update()
                    .where(cases_table.c.id == existing.id)
                    .values(
                        priority=Priority.URGENT.value,
                        reason=case.reason.value,
                        topic=case.topic,
                        updated_at=_now(),
                    )
                )
            existing.priority, existing.reason = Priority.URGENT, case.reason
            existing.topic = case.topic
        return existing

    def get(self, case_id: int) -> Case:
        _existing_id(case_id)
        with self.engine.connect() as db:
            row = db.execute(sa.select(cases_table).where(cases_table.c.id == case_id)).first()
        if row is None:
            raise CaseError(f"There is no case {case_id}.", 404)
        return self._case(row._mapping)

    def open_case_for(self, conversation_id: str) -> Case | None:
        with self.engine.connect() as db:
            row = db.execute(
                sa.select(cases_table)
                .where(cases_table.c.conversation_id == conversation_id)
                .where(cases_table.c.status.in_(OPEN_STATUSES))
                .order_by(cases_table.c.id.desc())
            ).first()
        return self._case(row._mapping) if row else None

    def cases(
        self,
        status: Status | None = None,
        priority: Priority | None = None,
        conversation_id: str | None = None,
    ) -> list[Case]:
        """Cases, urgent first, then oldest first."""
        urgent_first = sa.case((cases_table.c.priority == Priority.URGENT.value, 0), else_=1)
        query = sa.select(cases_table).order_by(urgent_first, cases_table.c.created_at)
        if status is not None:
            query = query.where(cases_table.c.status == status.value)
        if priority is not None:
            query = query.where(cases_table.c.priority == priority.value)
        if conversation_id is not None:
            query = query.where(cases_table.c.conversation_id == conversation_id)
        with self.engine.connect() as db:
            return [self._case(row._mapping) for row in db.execute(query)]

    def people_ahead(self, case: Case) -> int:
        """How many waiting cases an adviser will take before this one."""
        waiting = self.cases(status=Status.WAITING)
        ids = [c.id for c in waiting]
        return ids.index(case.id) if case.id in ids else len(ids)

    def claim(self, case_id: int, adviser: str, take_over: bool = False) -> Case:
        """Give the case to the adviser. Exactly one of several simultaneous claims wins.

        A case another adviser holds can only be taken with ``take_over=True``."""
        _existing_id(case_id)
        claimable = [Status.WAITING.value, Status.CALLBACK_REQUESTED.value]
        condition = cases_table.c.status.in_(claimable)
        if take_over:
            condition = condition | (
                (cases_table.c.status == Status.LIVE.value) & (cases_table.c.adviser != adviser)
            )
        with self.engine.begin() as db:
            result = db.execute(
                cases_table.update()
                .where(cases_table.c.id == case_id)
                .where(condition)
                .values(
                    status=Status.LIVE.value,
                    adviser=adviser,
                    updated_at=_now(),
                    claimed_at=sa.func.coalesce(cases_table.c.claimed_at, _now()),
                )
            )
        if result.rowcount == 1:
            return self.get(case_id)
        case = self.get(case_id)  # 404 if it does not exist
        if case.status is Status.LIVE and case.adviser == adviser:
            return case
        if case.status is Status.CLOSED:
            raise CaseError(f"Case {case_id} is closed.", 409)
        raise CaseError(
            f"Case {case_id} is held by {case.adviser}; take it over explicitly to act on it.",
            409,
        )

    def require_holder(self, case_id: int, adviser: str) -> Case:
        case = self.get(case_id)
        if case.status is not Status.LIVE or case.adviser != adviser:
            holder = f"held by {case.adviser}" if case.adviser else "not claimed"
            raise CaseError(f"Case {case_id} is {case.status.value} and {holder}.", 403)
        return case

    def close(self, case_id: int, adviser: str | None, outcome: str) -> Case:
        """Close a case. An adviser must hold it; ``adviser=None`` is the parent leaving."""
        _existing_id(case_id)
        if adviser is not None:
            self.require_holder(case_id, adviser)
        condition = cases_table.c.status != Status.CLOSED.value
        if adviser is not None:
            # Still the holder at the moment of closing (not taken over in between).
            condition = condition & (cases_table.c.adviser == adviser)
        with self.engine.begin() as db:
            result = db.execute(
                cases_table.update()
                .where(cases_table.c.id == case_id)
                .where(condition)
                .values(
                    status=Status.CLOSED.value,
                    outcome=outcome,
                    # Contact details are kept only as long as the call-back needs them.
                    callback_contact=None,
                    callback_time=None,
                    callback_name=None,
                    callback_consented_at=None,
                    paused=False,
                    updated_at=_now(),
                )
            )
        if result.rowcount != 1:
            raise CaseError(f"Case {case_id} is already closed or was taken over.", 409)
        return self.get(case_id)

    def request_callback(self, case_id: int, callback: Callback) -> Case:
        self._update(
            case_id,
            status=Status.CALLBACK_REQUESTED.value,
            callback_contact=callback.contact,
            callback_time=callback.best_time,
            callback_name=callback.first_name,
            callback_consented_at=callback.consented_at,
        )
        return self.get(case_id)

    def set_paused(self, case_id: int, paused: bool) -> None:
        self._update(case_id, paused=paused)

    def _update(self, case_id: int, **values: object) -> None:
        _existing_id(case_id)
        with self.engine.begin() as db:
            db.execute(
                cases_table.update()
                .where(cases_table.c.id == case_id)
                .values(**values, updated_at=_now())
            )

    def add_to_summary(self, case_id: int, line: str, limit: int = 4000) -> None:
        """Append a line in one UPDATE (no lost lines when two writers meet); stop at ``limit``."""
        _existing_id(case_id)
        with self.engine.begin() as db:
            db.execute(
                cases_table.update()
                .where(cases_table.c.id == case_id)
                .where(sa.func.length(cases_table.c.summary) < limit)
                .values(
                    summary=sa.case(
                        (cases_table.c.summary == "", line),
                        else_=cases_table.c.summary + ("\n" + line),
                    ),
                    updated_at=_now(),
                )
            )

    def waits(self, since: datetime | None = None) -> list[tuple[datetime, datetime]]:
        """(opened, first claimed) of every claimed case: how long parents waited."""
        query = sa.select(cases_table.c.created_at, cases_table.c.claimed_at).where(
            cases_table.c.claimed_at.is_not(None)
        )
        if since is not None:
            query = query.where(cases_table.c.created_at >= since)
        with self.engine.connect() as db:
            return [(_as_utc(a), _as_utc(b)) for a, b in db.execute(query)]

    # --- data protection -------------------------------------------------------------------
    def delete_conversation(self, conversation_id: str) -> int:
        """Remove a conversation's cases and feedback (erasure on request); rows deleted."""
        with self.engine.begin() as db:
            deleted = db.execute(
                cases_table.delete().where(cases_table.c.conversation_id == conversation_id)
            ).rowcount
            deleted += db.execute(
                feedback_table.delete().where(feedback_table.c.conversation_id == conversation_id)
            ).rowcount
        return deleted

    def delete_older_than(self, cutoff: datetime) -> int:
        """Retention: remove cases last changed before ``cutoff`` and feedback given before it."""
        with self.engine.begin() as db:
            deleted = db.execute(
                cases_table.delete().where(cases_table.c.updated_at < cutoff)
            ).rowcount
            deleted += db.execute(
                feedback_table.delete().where(feedback_table.c.created_at < cutoff)
            ).rowcount
        return deleted

    # --- feedback on answers ----------------------------------------------------------------
    def record_feedback(
        self, conversation_id: str, message_id: str, article: str, helpful: bool
    ) -> bool:
        """Store the parent's answer to "Was this helpful?", once per answer message: False,
        and nothing changed, when that message already has feedback (the first choice stands;
        the primary key decides between two clicks at once, on any instance)."""
        try:
            with self.engine.begin() as db:
                db.execute(
                    feedback_table.insert().values(
                        conversation_id=conversation_id,
                        message_id=message_id,
                        article=article,
                        helpful=helpful,
                        created_at=_now(),
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def feedback_for(self, conversation_id: str) -> dict[str, bool]:
        """Message id -> helpful, for one conversation."""
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(feedback_table.c.message_id, feedback_table.c.helpful).where(
                    feedback_table.c.conversation_id == conversation_id
                )
            )
            return {row.message_id: bool(row.helpful) for row in rows}

    def feedback(self, conversation_id: str | None = None) -> list[dict]:
        """Feedback rows, newest first (for advisers)."""
        query = sa.select(feedback_table).order_by(feedback_table.c.created_at.desc())
        if conversation_id is not None:
            query = query.where(feedback_table.c.conversation_id == conversation_id)
        with self.engine.connect() as db:
            return [
                {
                    **dict(row._mapping),
                    "created_at": _as_utc(row.created_at).isoformat(),
                }
                for row in db.execute(query)
            ]

    # --- advisers --------------------------------------------------------------------------
    def add_adviser(self, username: str, first_name: str) -> str:
        """Create (or re-key) an adviser; returns their API token, shown once, stored hashed."""
        token = secrets.token_urlsafe(32)
        values = {"first_name": first_name, "token_sha256": _hash(token), "updated_at": _now()}
        with self.engine.begin() as db:
            updated = db.execute(
                advisers_table.update()
                .where(advisers_table.c.username == username)
                .values(**values)
            )
            if updated.rowcount == 0:
                db.execute(
                    advisers_table.insert().values(username=username, available=False, **values)
                )
        return token

    def adviser_for_token(self, token: str | None) -> Adviser | None:
        if not token:
            return None
        with self.engine.connect() as db:
            row = db.execute(
                sa.select(advisers_table).where(advisers_table.c.token_sha256 == _hash(token))
            ).first()
        if row is None:
            return None
        return Adviser(row.username, row.first_name, bool(row.available))

    def adviser(self, username: str) -> Adviser | None:
        with self.engine.connect() as db:
            row = db.execute(
                sa.select(advisers_table).where(advisers_table.c.username == username)
            ).first()
        return Adviser(row.username, row.first_name, bool(row.available)) if row else None

    def set_available(self, username: str, available: bool) -> None:
        with self.engine.begin() as db:
            db.execute(
                advisers_table.update()
                .where(advisers_table.c.username == username)
                .values(available=available, updated_at=_now())
            )

    def available_advisers(self) -> list[Adviser]:
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(advisers_table).where(advisers_table.c.available.is_(True))
            ).all()
        return [Adviser(r.username, r.first_name, True) for r in rows]

    # --- rows ------------------------------------------------------------------------------
    @staticmethod
    def _row(case: Case) -> dict:
        callback = case.callback
        return {
            "reference": case.reference,
            "conversation_id": case.conversation_id,
            "channel": case.channel,
            "reason": case.reason.value,
            "topic": case.topic,
            "priority": case.priority.value,
            "status": case.status.value,
            "summary": case.summary,
            "paused": case.paused,
            "adviser": case.adviser,
            "outcome": case.outcome,
            "callback_contact": callback.contact if callback else None,
            "callback_time": callback.best_time if callback else None,
            "callback_name": callback.first_name if callback else None,
            "callback_consented_at": callback.consented_at if callback else None,
            "created_at": case.created_at,
            "updated_at": case.updated_at,
            "claimed_at": case.claimed_at,
        }

    @staticmethod
    def _case(row) -> Case:
        callback = None
        if row["callback_contact"]:
            callback = Callback(
                row["callback_contact"],
                row["callback_time"] or "",
                row["callback_name"],
                _as_utc(row["callback_consented_at"]),
            )
        return Case(
            conversation_id=row["conversation_id"],
            channel=row["channel"],
            reason=Reason(row["reason"]),
            topic=row["topic"],
            priority=Priority(row["priority"]),
            status=Status(row["status"]),
            summary=row["summary"] or "",
            adviser=row["adviser"],
            outcome=row["outcome"],
            callback=callback,
            paused=bool(row["paused"]),
            reference=row["reference"],
            created_at=_as_utc(row["created_at"]),
            updated_at=_as_utc(row["updated_at"]),
            claimed_at=_as_utc(row["claimed_at"]),
            id=row["id"],
        )
