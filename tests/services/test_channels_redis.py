"""Messaging channels with the production profile's Redis (127.0.0.1:6379): a webhook delivery
repeated to another instance is recognised; without Redis, repeats are caught in this process."""

from __future__ import annotations

import logging
import time

# --- Repeated deliveries across instances (the production profile) ----------------------------


def test_a_delivery_repeated_to_another_instance_is_recognised() -> None:
    from bot.channels.common import SharedRecentIds, recent_ids

    env = {"SEN_LIMITS_REDIS_URL": "redis://127.0.0.1:6379/12"}
    first, second = recent_ids("telegram", env), recent_ids("telegram", env)
    assert isinstance(first, SharedRecentIds)
    update = f"update-{time.time_ns()}"
    assert first.first_time(update)
    assert not second.first_time(update), "the other instance handled it already"
    assert not first.first_time(update)
    assert recent_ids("twilio", env).first_time(update), "platforms' ids are kept apart"
    assert second.first_time(None), "a message without an id is never taken for a repeat"


def test_without_redis_repeats_are_caught_in_this_process(caplog) -> None:
    from bot.channels.common import recent_ids

    ids = recent_ids("telegram", {"SEN_LIMITS_REDIS_URL": "redis://127.0.0.1:1/0"})
    with caplog.at_level(logging.ERROR, logger="bot.channels.limits"):
        assert ids.first_time("update-1")
        assert not ids.first_time("update-1")
    assert sum("Redis can't be reached" in r.getMessage() for r in caplog.records) == 1
