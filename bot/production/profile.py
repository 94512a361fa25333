"""The production profile: Rasa's horizontal architecture on real services.

| variable | default | what |
|---|---|---|
| SEN_POSTGRES_URL | postgresql://postgres@127.0.0.1:5432/sen | cases, console, events |
| SEN_TRACKER_DB | sen_tracker | the tracker store's database on that server |
| SEN_REDIS_URL | redis://127.0.0.1:6379/1 | Rasa's lock store: one message at a time |
| SEN_RABBITMQ_URL | amqp://guest:guest@127.0.0.1:5672/ | Rasa's event broker |
| SEN_RABBITMQ_QUEUE | sen_events | emptied into PostgreSQL by ``bot.production.broker_consumer`` |
| SEN_TRACKER_RETRY_SECONDS | 30 | how long a tracker read or save is retried (tracker store) |

``service_env()`` also sets SEN_SOCKETIO_REDIS_URL and SEN_LIMITS_REDIS_URL to SEN_REDIS_URL:
socket.io rooms (bot.channels.widget), rate limits and repeated webhook deliveries
(bot.channels.limits, bot.channels) shared by the Rasa instances.

``python -m bot.ops.cluster`` runs it (nginx in front of several Rasa instances);
tests/servers/test_cluster.py
and tests/servers/test_production_profile.py test it against the local services.

Rasa's tracker store is PostgreSQL (every Rasa instance sees every conversation), its lock store
Redis (two instances never handle the same conversation at once) and its event broker RabbitMQ.
Rasa can have only one event broker, so ``python -m bot.production.broker_consumer`` copies each
event from RabbitMQ into an ``events`` table in PostgreSQL, the table the hand-off watcher and the
console read (the same table the SQL event broker writes in the default profile).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from bot.settings import load_settings


@dataclass(frozen=True)
class ProductionProfile:
    postgres_url: str
    tracker_db: str
    redis_url: str
    rabbitmq_url: str
    rabbitmq_queue: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProductionProfile:
        given = load_settings(env).production
        return cls(
            postgres_url=given.postgres_url,
            tracker_db=given.tracker_db,
            redis_url=given.redis_url,
            rabbitmq_url=given.rabbitmq_url,
            rabbitmq_queue=given.rabbitmq_queue,
        )

    def service_env(self) -> dict[str, str]:
        """Settings for our own processes: cases, console and events all in PostgreSQL."""
        return {
            "SEN_HANDOFF_DB_URL": self.postgres_url,
            "SEN_EVENTS_DB_URL": self.postgres_url,
            "SEN_TRACKER_DB_URL": _with_database(self.postgres_url, self.tracker_db),
            # socket.io rooms shared between Rasa instances (bot.channels.widget).
            "SEN_SOCKETIO_REDIS_URL": self.redis_url,
            # rate limits and repeated webhook deliveries counted across instances
            # (bot.channels.limits).
            "SEN_LIMITS_REDIS_URL": self.redis_url,
            "SEN_RABBITMQ_URL": self.rabbitmq_url,
            "SEN_RABBITMQ_QUEUE": self.rabbitmq_queue,
        }

    def endpoints_yaml(self, actions_url: str) -> str:
        pg, redis = urlparse(self.postgres_url), urlparse(self.redis_url)
        amqp = urlparse(self.rabbitmq_url)
        redis_db = (redis.path or "/1").lstrip("/") or "1"
        q = json.dumps  # a JSON string is a YAML string, with anything in it escaped
        lines = [
            "# Written by bot.production.profile; do not edit.",
            "action_endpoint:",
            f"  url: {q(actions_url)}",
            "tracker_store:",
            # Rasa's SQL store, retrying through a short outage and failing loudly after it.
            "  type: bot.production.tracker_store.ResilientSQLTrackerStore",
            "  dialect: postgresql",
            f"  url: {q(pg.hostname or '127.0.0.1')}",
            f"  port: {pg.port or 5432}",
            f"  db: {q(self.tracker_db)}",
            f"  username: {q(unquote(pg.username or 'postgres'))}",
            f"  password: {q(unquote(pg.password or ''))}",
            '  login_db: "postgres"',
            "lock_store:",
            "  type: redis",
            f"  url: {q(redis.hostname or '127.0.0.1')}",
            f"  port: {redis.port or 6379}",
            f"  db: {int(redis_db)}",
            '  key_prefix: "sen"',
        ]
        if redis.password:
            lines.append(f"  password: {q(unquote(redis.password))}")
        if redis.scheme == "rediss":
            lines.append("  use_ssl: true")
        lines += [
            "event_broker:",
            # Rasa's pika broker, waiting for events still on their way when Rasa stops.
            "  type: bot.production.event_broker.DrainingPikaEventBroker",
            # The whole AMQP URL (credentials, virtual host, amqps), as the consumer uses it.
            f"  url: {q(self.rabbitmq_url)}",
            f"  port: {amqp.port or (5671 if amqp.scheme == 'amqps' else 5672)}",
            f"  username: {q(unquote(amqp.username or 'guest'))}",
            f"  password: {q(unquote(amqp.password or 'guest'))}",
            "  queues:",
            f"    - {q(self.rabbitmq_queue)}",
            "  raise_on_failure: false",
        ]
        return "\n".join(lines) + "\n"

    def write_endpoints(self, directory: Path, actions_url: str) -> Path:
        path = directory / "endpoints-production.yml"
        path.write_text(self.endpoints_yaml(actions_url))
        path.chmod(0o600)  # it may hold passwords
        return path


def _with_database(url: str, database: str) -> str:
    parsed = urlparse(url)
    return parsed._replace(path=f"/{database}").geturl()


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` if it does not exist yet."""
    import sqlalchemy as sa

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = sa.create_engine(
        parsed._replace(path="/postgres").geturl(), isolation_level="AUTOCOMMIT", future=True
    )
    try:
        with admin.connect() as db:
            found = db.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if not found:
                db.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
