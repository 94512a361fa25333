"""What the production-profile tests share: a profile of their own (PostgreSQL databases, a Redis
database, a RabbitMQ queue, all named for the run), cleaning it all up afterwards, reading events
back, and waiting for something to happen."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

import sqlalchemy as sa

from bot.production.profile import ProductionProfile

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def wait_until(check, timeout: float = 20.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


def run_profile(prefix: str, redis_db: int) -> ProductionProfile:
    """A profile on the local services whose databases and queue belong to this run only."""
    run = secrets.token_hex(4)
    return ProductionProfile(
        postgres_url=f"postgresql://postgres@127.0.0.1:5432/{prefix}_{run}",
        tracker_db=f"{prefix}_tracker_{run}",
        redis_url=f"redis://127.0.0.1:6379/{redis_db}",
        rabbitmq_url="amqp://guest:guest@127.0.0.1:5672/",
        rabbitmq_queue=f"{prefix}_{run}",
    )


def clean_up(profile: ProductionProfile) -> None:
    """Drop the run's databases and delete its queue: the queue is durable and bound to Rasa's
    fanout exchange, so left behind it would collect every later run's events."""
    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        for name in (profile.postgres_url.rsplit("/", 1)[1], profile.tracker_db):
            db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    asyncio.run(_delete_queue(profile))


async def _delete_queue(profile: ProductionProfile) -> None:
    import aio_pika

    connection = await aio_pika.connect(profile.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(profile.rabbitmq_queue)


def events(url: str, conversation: str) -> list[dict]:
    """A conversation's events from an ``events`` table (the tracker store's or the broker's)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as db:
            if not sa.inspect(db).has_table("events"):
                return []
            rows = db.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                {"s": conversation},
            )
            return [json.loads(row[0]) for row in rows]
    finally:
        engine.dispose()
