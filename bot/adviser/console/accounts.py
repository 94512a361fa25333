"""Console accounts, sessions and the audit log, in the same SQL database as the cases.

- Users have a role, ``adviser`` or ``admin``, and a password hashed with argon2id.
- After ``LOCKOUT_ATTEMPTS`` failed logins in a row from one client address an account is locked
  for ``LOCKOUT_MINUTES`` for that address (not for the adviser elsewhere); a successful login
  resets the count. A client address may fail ``ADDRESS_FAILURES`` logins, whatever the accounts,
  before it is refused for ``ADDRESS_MINUTES``. Each attempt is counted *before* the password is
  checked, by one conditional ``UPDATE`` (``failures < limit``), as case claims are, so parallel
  attempts can't get more password checks than the limit: a locked account gets none.
- An unknown username is answered exactly as a wrong password (same status, body, counting and
  an argon2 check against a dummy hash), so the login does not tell which usernames exist.
- A session is a random token in a cookie; only its SHA-256 is stored. Sessions end after
  ``IDLE_MINUTES`` without a request, after ``MAX_HOURS`` in any case, and at logout. Each has its
  own CSRF token, which every form and every state-changing request must carry.
- The audit log records who viewed, revealed, exported or deleted what (ids, never content).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.cases.db import engine_with_tables
from bot.cases.store import CaseStore

ROLES = ("adviser", "admin")
LOCKOUT_ATTEMPTS = 5  # failed logins in a row, for one account from one client address
LOCKOUT_MINUTES = 15
ADDRESS_FAILURES = 20  # failed logins from one client address, any accounts
ADDRESS_MINUTES = 15
IDLE_MINUTES = 30
MAX_HOURS = 12
MIN_PASSWORD_CHARS = 12

_metadata = sa.MetaData()
users_table = sa.Table(
    "console_users",
    _metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("first_name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sessions_table = sa.Table(
    "console_sessions",
    _metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
)
# Failed-login counters: "account:<address>:<username>" and "address:<address>". A row is
# forgotten (deleted) once ``expires_at`` is past: the counter's window after its last failure.
login_failures_table = sa.Table(
    "console_login_failures",
    _metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("username", sa.String(64)),  # for an account's counters: reset with its password
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
audit_table = sa.Table(
    "console_audit",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(255), nullable=False, default=""),
    sa.Column("detail", sa.String(500), nullable=False, default=""),
)

_hasher = PasswordHasher()  # argon2id with the library's current defaults
# Verified against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountError(Exception):
    pass


@dataclass(frozen=True)
class User:
    username: str
    first_name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str


@dataclass(frozen=True)
class LoginResult:
    session_token: str | None = None
    user: User | None = None
    locked: bool = False


def _account_key(username: str, address: str) -> str:
    return f"account:{address[:100]}:{username[:64]}"


def _address_key(address: str) -> str:
    return f"address:{address[:100]}"


class Accounts:
    def __init__(self, url: str, now=_now) -> None:
        self.engine = engine_with_tables(url, _metadata)
        self.now = now
        self.url = url

    # --- users -----------------------------------------------------------------------------
    def create_user(self, username: str, first_name: str, role: str, password: str) -> User:
        username, first_name = username.strip(), first_name.strip()
        if not username or not first_name:
            raise AccountError("A username and a first name are needed.")
        if role not in ROLES:
            raise AccountError(f"The role must be one of: {', '.join(ROLES)}.")
        if len(password) < MIN_PASSWORD_CHARS:
            raise AccountError(f"The password needs at least {MIN_PASSWORD_CHARS} characters.")
        values = {
            "first_name": first_name,
            "role": role,
            "password_hash": _hasher.hash(password),
            "failed_logins": 0,
            "locked_until": None,
        }
        with self.engine.begin() as db:
            updated = db.execute(
                users_table.update().where(users_table.c.username == username).values(**values)
            ).rowcount
            if not updated:
                db.execute(
                    users_table.insert().values(username=username, created_at=self.now(), **values)
                )
            # A new password ends every session of the account, and any lock on it.
            db.execute(sessions_table.delete().where(sessions_table.c.username == username))
            db.execute(
                login_failures_table.delete().where(login_failures_table.c.username == username)
            )
        # Every console user can take cases: they are advisers of the hand-off too.
        store = CaseStore(self.url)
        if store.adviser(username) is None:
            store.add_adviser(username, first_name)
        store.engine.dispose()
        return User(username, first_name, role)

    def user(self, username: str) -> User | None:
        with self.engine.connect() as db:
            row = db.execute(
                sa.select(users_table).where(users_table.c.username == username)
            ).first()
        return User(row.username, row.first_name, row.role) if row else None

    # --- logging in and out ----------------------------------------------------------------
    def login(self, username: str, password: str, address: str = "") -> LoginResult:
        """A session for the right password. ``address`` is the client's address: failures are
        counted per account and address, and per address (see the module's docstring)."""
        with self.engine.connect() as db:
            row = db.execute(
                sa.select(users_table).where(users_table.c.username == username)
            ).first()
        # An unknown username goes through the same counting and the same (dummy) check.
        if not self._count_attempt(_address_key(address), None, ADDRESS_FAILURES, ADDRESS_MINUTES):
            return LoginResult(locked=True)
        account = _account_key(username, address)
        if not self._count_attempt(account, username, LOCKOUT_ATTEMPTS, LOCKOUT_MINUTES):
            return LoginResult(locked=True)  # no password check for a locked account
        right = _verify(row.password_hash if row else _DUMMY_HASH, password) and row is not None
        if not right:
            self.audit(username, "login_failed", detail=f"from {address}"[:500])
            return LoginResult()
        now = self.now()
        token = secrets.token_urlsafe(32)
        failures = login_failures_table
        with self.engine.begin() as db:
            db.execute(failures.delete().where(failures.c.key == account))
            # The attempt counted against the address was not a failure after all.
            db.execute(
                failures.update()
                .where(failures.c.key == _address_key(address), failures.c.failures > 0)
                .values(failures=failures.c.failures - 1)
            )
            db.execute(
                sessions_table.insert().values(
                    token_sha256=_sha(token),
                    username=username,
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    last_seen=now,
                )
            )
        self.audit(username, "login")
        return LoginResult(token, User(row.username, row.first_name, row.role))

    def _count_attempt(self, key: str, username: str | None, limit: int, minutes: int) -> bool:
        """Count one attempt against ``key``, unless it already has ``limit``: False then.

        The count is one conditional UPDATE (``failures < limit``), atomic on SQLite and on
        PostgreSQL (which checks the condition again on the row it waited for), so of many
        attempts at once no more than ``limit`` are let through. A counter is forgotten
        ``minutes`` after its last counted attempt."""
        table = login_failures_table
        now = self.now()
        until = now + timedelta(minutes=minutes)
        for _ in range(3):  # a row inserted by another attempt meanwhile: count again
            with self.engine.begin() as db:
                db.execute(table.delete().where(table.c.expires_at <= now))
                counted = db.execute(
                    table.update()
                    .where(table.c.key == key, table.c.failures < limit)
                    .values(failures=table.c.failures + 1, expires_at=until)
                ).rowcount
                if counted:
                    return True
                if db.execute(sa.select(table.c.key).where(table.c.key == key)).first():
                    return False
            try:
                with self.engine.begin() as db:
                    db.execute(
                        table.insert().values(
                            key=key, username=username, failures=1, expires_at=until
                        )
                    )
                return True
            except sa.exc.IntegrityError:
                continue
        return False

    def session(self, token: str | None) -> Session | None:
        """The session for a cookie's token, if it is still valid (and marks it used)."""
        if not token or len(token) > 100:
            return None
        now = self.now()
        key = _sha(token)
        with self.engine.connect() as db:
            row = db.execute(
                sa.select(sessions_table, users_table.c.first_name, users_table.c.role)
                .join(users_table, users_table.c.username == sessions_table.c.username)
                .where(sessions_table.c.token_sha256 == key)
            ).first()
        if row is None:
            return None
        if now - _utc(row.last_seen) > timedelta(minutes=IDLE_MINUTES) or now - _utc(
            row.created_at
        ) > timedelta(hours=MAX_HOURS):
            self.logout(token)
            return None
        with self.engine.begin() as db:
            db.execute(
                sessions_table.update()
                .where(sessions_table.c.token_sha256 == key)
                .values(last_seen=now)
            )
        return Session(User(row.username, row.first_name, row.role), row.csrf_token)

    def logout(self, token: str | None) -> None:
        if token:
            with self.engine.begin() as db:
                db.execute(
                    sessions_table.delete().where(sessions_table.c.token_sha256 == _sha(token))
                )

    # --- the audit log ---------------------------------------------------------------------
    def audit(self, actor: str, action: str, target: str = "", detail: str = "") -> None:
        with self.engine.begin() as db:
            db.execute(
                audit_table.insert().values(
                    at=self.now(),
                    actor=actor[:64],
                    action=action[:32],
                    target=target[:255],
                    detail=detail[:500],
                )
            )

    def audit_log(self, limit: int = 500) -> list[dict]:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(audit_table).order_by(audit_table.c.id.desc()).limit(limit))
            return [{**dict(r._mapping), "at": _utc(r.at)} for r in rows]

    def delete_audit_before(self, cutoff: datetime) -> int:
        with self.engine.begin() as db:
            return db.execute(audit_table.delete().where(audit_table.c.at < cutoff)).rowcount


def csrf_matches(expected: str, given: object) -> bool:
    """The token given is the one expected (an empty one never matches)."""
    return (
        bool(expected)
        and isinstance(given, str)
        and hmac.compare_digest(expected.encode(), given.encode())
    )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
