"""bot.production.event_broker: events Rasa is still publishing when the server stops reach
RabbitMQ, or are reported loudly; against the local RabbitMQ, and with a stand-in exchange for
the edges (and for Rasa's own broker, whose loss must not depend on the machine's speed)."""

from __future__ import annotations

import asyncio
import logging
import secrets

import aio_pika
import pytest
from rasa.core.brokers.pika import PikaEventBroker

from bot.production.event_broker import DrainingPikaEventBroker

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"


def events(count: int) -> list[dict]:
    return [{"event": "user", "sender_id": "parent", "text": f"message {i}"} for i in range(count)]


async def queue_depth(queue: str) -> int:
    connection = await aio_pika.connect(RABBITMQ)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True)
        return declared.declaration_result.message_count


async def delete_queue(queue: str) -> None:
    connection = await aio_pika.connect(RABBITMQ)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)


async def publish_then_stop(broker_class: type[PikaEventBroker], count: int) -> int:
    """A burst of events and the server stopping at once, as Rasa does it; the queue's depth."""
    queue = f"sen_test_broker_{secrets.token_hex(4)}"
    broker = broker_class(
        RABBITMQ, "guest", "guest", queues=[queue], exchange_name=f"sen_test_{queue}"
    )
    await broker.connect()
    try:
        for event in events(count):
            broker.publish(event)
        await broker.close()  # what rasa.core.run.close_resources awaits as the server stops
        # RabbitMQ counts a confirmed message a moment after it is confirmed: wait for the count
        # (up to a generous limit), not for a fixed time.
        deadline = asyncio.get_running_loop().time() + 10
        while (depth := await queue_depth(queue)) < count:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        return depth
    finally:
        await delete_queue(queue)


def test_events_still_being_published_when_rasa_stops_reach_rabbitmq():
    assert asyncio.run(publish_then_stop(DrainingPikaEventBroker, 300)) == 300


def test_rasas_own_broker_drops_them_which_is_why_this_exists():
    """Rasa's close() does not wait for the publishes still in flight; ours does. Shown with a
    stand-in exchange that takes a moment per publish, so the verdict never depends on how fast
    the machine or RabbitMQ is."""

    async def published_by_close(broker_class: type[PikaEventBroker]) -> int:
        broker = broker_class("localhost", "guest", "guest", queues=["q"])
        exchange = StandInExchange(seconds=0.05)
        broker._exchange = exchange  # no connection: close() has nothing else to close
        for event in events(3):
            broker.publish(event)
        await broker.close()
        published = len(exchange.published)
        late = list(broker._background_tasks)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        return published

    assert asyncio.run(published_by_close(PikaEventBroker)) == 0
    assert asyncio.run(published_by_close(DrainingPikaEventBroker)) == 3


class StandInExchange:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.published: list[bytes] = []

    async def publish(self, message: aio_pika.Message, routing_key: str) -> None:
        await asyncio.sleep(self.seconds)
        self.published.append(message.body)


def stand_in_broker(seconds: float) -> tuple[DrainingPikaEventBroker, StandInExchange]:
    broker = DrainingPikaEventBroker("localhost", "guest", "guest", queues=["q"])
    exchange = StandInExchange(seconds)
    broker._exchange = exchange  # no connection: close() has nothing else to close
    return broker, exchange


def test_a_publish_that_never_finishes_is_waited_for_only_so_long_and_reported(monkeypatch, caplog):
    monkeypatch.setenv("SEN_BROKER_DRAIN_SECONDS", "0.3")

    async def scenario() -> float:
        broker, _ = stand_in_broker(seconds=60)
        for event in events(3):
            broker.publish(event)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await broker.close()
        elapsed = loop.time() - started
        late = list(broker._background_tasks)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        return elapsed

    with caplog.at_level(logging.ERROR, logger="bot.production.event_broker"):
        elapsed = asyncio.run(scenario())
    assert elapsed < 2
    assert any("EVENTS NOT PUBLISHED: 3 event(s)" in r.getMessage() for r in caplog.records)


def test_events_kept_during_an_outage_are_reported_when_they_cannot_be_sent(caplog):
    async def scenario() -> None:
        broker, _ = stand_in_broker(seconds=0)
        broker._unpublished_events.extend(events(4))  # failed while RabbitMQ was down
        await broker.close()  # still down (no connection): they can't go

    with caplog.at_level(logging.ERROR, logger="bot.production.event_broker"):
        asyncio.run(scenario())
    assert any("EVENTS NOT PUBLISHED: 4 event(s)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("raw, seconds", [(None, 10.0), ("2.5", 2.5), ("-1", 0.0), ("x", 10.0)])
def test_the_drain_time_setting(monkeypatch, raw, seconds):
    from bot.production.event_broker import drain_seconds

    if raw is None:
        monkeypatch.delenv("SEN_BROKER_DRAIN_SECONDS", raising=False)
    else:
        monkeypatch.setenv("SEN_BROKER_DRAIN_SECONDS", raw)
    assert drain_seconds() == seconds
