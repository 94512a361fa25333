"""bot.production.broker_consumer against the local RabbitMQ and PostgreSQL: every event Rasa
published reaches the ``events`` table once, in order, in full batches; something that is not an
event is dropped; a database that fails for a while loses nothing."""

from __future__ import annotations

import asyncio
import json

import aio_pika
import pytest
import sqlalchemy as sa

from bot.production.broker_consumer import BATCH, Consumer
from bot.production.profile import ensure_database
from tests.helpers.production import clean_up, events, run_profile, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def profile():
    profile = run_profile("sen_consumer", redis_db=7)
    ensure_database(profile.postgres_url)
    yield profile
    clean_up(profile)


async def publish(profile, bodies: list[bytes]) -> None:
    connection = await aio_pika.connect(profile.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(profile.rabbitmq_queue, durable=True)
        for body in bodies:
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=profile.rabbitmq_queue)


async def queue_depth(profile) -> int:
    connection = await aio_pika.connect(profile.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(profile.rabbitmq_queue, durable=True)
        return queue.declaration_result.message_count


def event(conversation: str, i: int) -> bytes:
    return json.dumps({"event": "user", "sender_id": conversation, "text": f"message {i}"}).encode()


async def run_until(consumer: Consumer, done, timeout: float = 30.0) -> None:
    task = asyncio.ensure_future(consumer.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            assert loop.time() < deadline, "the consumer did not finish in time"
            assert not task.done(), f"the consumer stopped: {task.exception()!r}"
            await asyncio.sleep(0.1)
    finally:
        consumer.stopping.set()
        await asyncio.wait_for(task, 10)


def test_every_event_is_written_once_in_order_in_full_batches(profile):
    count = 250
    bodies = [event("parent-a", i) for i in range(count)]
    bodies.insert(100, b"<html>not an event</html>")
    asyncio.run(publish(profile, bodies))
    # Everything is queued before the consumer starts, and the batch window is long enough for
    # RabbitMQ to deliver a whole batch however slow the machine: the batches are then exactly
    # what batching guarantees, not what the delivery speed happened to give.
    consumer = Consumer(profile, profile.postgres_url, linger_seconds=3.0)
    transactions = []
    insert = consumer._insert
    consumer._insert = lambda rows: transactions.append(len(rows)) or insert(rows)

    asyncio.run(run_until(consumer, lambda: consumer.written == count))

    written = events(profile.postgres_url, "parent-a")
    assert [e["text"] for e in written] == [f"message {i}" for i in range(count)]
    assert sum(transactions) == count
    # All 251 were waiting: full batches of BATCH deliveries (the second holds the junk, rejected
    # rather than written), then the rest once the window closes.
    assert transactions == [BATCH, BATCH - 1, count + 1 - 2 * BATCH], transactions
    # Everything acknowledged (the junk rejected): nothing left for a restart to repeat.
    assert asyncio.run(queue_depth(profile)) == 0


def test_a_database_that_fails_for_a_while_loses_nothing(profile):
    asyncio.run(publish(profile, [event("parent-b", i) for i in range(5)]))
    consumer = Consumer(profile, profile.postgres_url)
    insert, failures = consumer._insert, []

    def failing_twice(rows):
        if len(failures) < 2:
            failures.append(len(rows))
            raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))
        return insert(rows)

    consumer._insert = failing_twice
    asyncio.run(run_until(consumer, lambda: consumer.written == 5, timeout=30))
    assert len(failures) == 2
    written = wait_until(lambda: events(profile.postgres_url, "parent-b"), what="the events")
    assert [e["text"] for e in written] == [f"message {i}" for i in range(5)]
    assert asyncio.run(queue_depth(profile)) == 0
