"""Copies Rasa's events from RabbitMQ into PostgreSQL (production profile).

Rasa publishes every event of every conversation to a RabbitMQ queue (``SEN_RABBITMQ_QUEUE``).
This consumer writes each one into the ``events`` table (``SEN_EVENTS_DB_URL``), in the order
received, and acknowledges it only once it is committed: if the consumer or the database stops,
the unacknowledged events stay in RabbitMQ (the queue is durable, the messages persistent) and are
written when it is back. A crash between the commit and the acknowledgement writes that event
twice; readers tolerate a repeated event (the transcript shows it once per id, the watcher acts
on it once because its actions are idempotent).

    python -m bot.broker_consumer
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys

import aio_pika
import sqlalchemy as sa

from bot.handoff_watcher import events_engine, events_table
from bot.profile import ProductionProfile
from bot.settings import load_settings

logger = logging.getLogger("bot.broker_consumer")
BATCH = 100


def _row(body: bytes) -> dict | None:
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("sender_id"), str):
        return None
    return {"sender_id": event["sender_id"], "data": json.dumps(event)}


class Consumer:
    def __init__(self, profile: ProductionProfile, events_db_url: str) -> None:
        self.profile = profile
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
            async with queue.iterator() as messages:
                stop = asyncio.ensure_future(self.stopping.wait())
                while not self.stopping.is_set():
                    get = asyncio.ensure_future(messages.__anext__())
                    done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if get not in done:
                        get.cancel()
                        break
                    await self._store(get.result())

    async def _store(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        row = _row(message.body)
        if row is None:
            logger.warning(
                "Dropping a message that is not a Rasa event (%d bytes)", len(message.body)
            )
            await message.reject(requeue=False)
            return
        while True:
            try:
                await asyncio.to_thread(self._insert, [row])
                break
            except sa.exc.OperationalError as problem:
                # PostgreSQL restarting: keep the event (unacknowledged) and try again.
                logger.error("Could not write an event (%s); retrying in 2 s", problem.orig)
                await asyncio.sleep(2)
        await message.ack()
        self.written += 1


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("SEN_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    consumer = Consumer(ProductionProfile.from_env(), load_settings().events_db_url)

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
