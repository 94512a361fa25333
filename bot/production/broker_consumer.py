"""Copies Rasa's events from RabbitMQ into PostgreSQL (production profile).

Rasa publishes every event of every conversation to a RabbitMQ queue (``SEN_RABBITMQ_QUEUE``).
This consumer writes each one into the ``events`` table (``SEN_EVENTS_DB_URL``), in the order
received (the events that have arrived by the time the last write ends go in together, in one
transaction of at most 100), and acknowledges them only once they are committed: if the
consumer or the database stops, the unacknowledged events stay in RabbitMQ (the queue is
durable, the messages persistent) and are written when it is back. A crash between the commit
and the acknowledgement writes those events twice; readers tolerate a repeated event (the
transcript shows it once per id, the watcher acts on it once because its actions are
idempotent).

    python -m bot.production.broker_consumer
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys

import aio_pika
import sqlalchemy as sa

from bot.cases.db import events_engine, events_table
from bot.production.profile import ProductionProfile
from bot.settings import load_settings

logger = logging.getLogger("bot.production.broker_consumer")
BATCH = 100  # events per transaction at most (and unacknowledged deliveries at once)
LINGER_SECONDS = 0.01  # how long a batch waits for more events after its first


def _row(body: bytes) -> dict | None:
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("sender_id"), str):
        return None
    # The text as Rasa sent it (already checked to be JSON): no second serialisation.
    return {"sender_id": event["sender_id"], "data": body.decode("utf-8")}


class Consumer:
    def __init__(
        self,
        profile: ProductionProfile,
        events_db_url: str,
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:
        self.profile = profile
        self.linger_seconds = linger_seconds
        self.engine = events_engine(events_db_url)
        self.stopping = asyncio.Event()
        self.written = 0

    def _insert(self, rows: list[dict]) -> None:
        with self.engine.begin() as db:
            db.execute(sa.insert(events_table), rows)

    async def run(self) -> None:
        connection = await aio_pika.connect_robust(self.profile.rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=BATCH)
            queue = await channel.declare_queue(self.profile.rabbitmq_queue, durable=True)
            logger.info("Copying events from queue %s", self.profile.rabbitmq_queue)
            received: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
            tag = await queue.consume(received.put)
            stop = asyncio.ensure_future(self.stopping.wait())
            try:
                while not self.stopping.is_set():
                    first = asyncio.ensure_future(received.get())
                    done, _ = await asyncio.wait({first, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if first not in done:
                        first.cancel()
                        break
                    await self._store(
                        await self._batch(first.result(), received, self.linger_seconds)
                    )
            finally:
                stop.cancel()
                await queue.cancel(tag)

    @staticmethod
    async def _batch(
        first: aio_pika.abc.AbstractIncomingMessage,
        received: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage],
        linger_seconds: float = LINGER_SECONDS,
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """The first event and whatever follows within ``linger_seconds`` (at most BATCH): one
        commit for many events when Rasa is busy; a quiet conversation's event waits 10 ms."""
        batch = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + linger_seconds
        while len(batch) < BATCH:
            if not received.empty():
                batch.append(received.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:  # asyncio.Queue.get loses nothing when the wait times out
                batch.append(await asyncio.wait_for(received.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _store(self, messages: list[aio_pika.abc.AbstractIncomingMessage]) -> None:
        rows, events = [], []
        for message in messages:
            row = _row(message.body)
            if row is None:
                logger.warning(
                    "Dropping a message that is not a Rasa event (%d bytes)", len(message.body)
                )
                await message.reject(requeue=False)
            else:
                rows.append(row)
                events.append(message)
        if not rows:
            return
        while True:
            try:
                await asyncio.to_thread(self._insert, rows)
                break
            except sa.exc.OperationalError as problem:
                # PostgreSQL restarting: keep the events (unacknowledged) and try again.
                logger.error(
                    "Could not write %d event(s) (%s); retrying in 2 s", len(rows), problem.orig
                )
                await asyncio.sleep(2)
        # One acknowledgement for the whole batch (and any junk rejected in it before).
        await events[-1].ack(multiple=True)
        self.written += len(rows)


def main() -> int:
    settings = load_settings()
    logging.basicConfig(
        level=settings.production.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    consumer = Consumer(ProductionProfile.from_env(), settings.events_db_url)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, consumer.stopping.set)
        await consumer.run()

    try:
        asyncio.run(serve())
    except (aio_pika.exceptions.AMQPConnectionError, OSError) as problem:
        print(
            f"RabbitMQ could not be reached ({problem}); check SEN_RABBITMQ_URL.", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
