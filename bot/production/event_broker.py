"""Rasa's RabbitMQ event broker, made to finish its work before the server stops.

Rasa's ``PikaEventBroker`` publishes each event from a background task after the reply, and when
the server stops (a restart, a deployment: SIGTERM) it closes the connection without waiting for
those tasks. Under load a Rasa instance runs a few seconds behind on publishing (measured: ~900
events waiting at the end of a saturated ``make bench-load`` run), so a restart at that moment
dropped them from the event copy in PostgreSQL that the console and the hand-off watcher read
(the tracker store still had them). Events that failed to publish while RabbitMQ was down, kept
in memory for its return, were dropped the same way, without a word.

This broker waits up to ``SEN_BROKER_DRAIN_SECONDS`` (default 10) for the events still being
published, then tries once more to publish what failed earlier, and logs loudly how many events
it could not deliver. The production profile names it in Rasa's endpoints
(``type: bot.production.event_broker.DrainingPikaEventBroker``).
"""

from __future__ import annotations

import asyncio
import logging

import rasa.shared.core.events  # noqa: F401 - Rasa's pika module uses it without importing it
from rasa.core.brokers.pika import PikaEventBroker

from bot.settings import load_settings

logger = logging.getLogger(__name__)


def drain_seconds() -> float:
    return load_settings().production.broker_drain_seconds


class DrainingPikaEventBroker(PikaEventBroker):
    async def close(self) -> None:
        """Publish what is still on its way, then close (Rasa calls this as the server stops)."""
        pending = set(self._background_tasks)
        if pending:
            logger.info("Publishing %d event(s) still on their way before closing.", len(pending))
            _, late = await asyncio.wait(pending, timeout=drain_seconds())
            if late:
                logger.error(
                    "EVENTS NOT PUBLISHED: %d event(s) were still being published to RabbitMQ "
                    "after %.0f s and are lost from the event copy (the tracker store has them).",
                    len(late),
                    drain_seconds(),
                )
        if self._unpublished_events and self.is_ready():
            # Kept while RabbitMQ was unreachable: one more try, now that it answers.
            for _ in range(len(self._unpublished_events)):
                event = self._unpublished_events.popleft()
                await self._publish(event)
        if self._unpublished_events:
            logger.error(
                "EVENTS NOT PUBLISHED: %d event(s) could not reach RabbitMQ and are lost from "
                "the event copy (the tracker store has them).",
                len(self._unpublished_events),
            )
        await super().close()
