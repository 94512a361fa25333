"""The per-conversation rate limiter (bot.channels.limits): in one process with an injected clock,
and shared between instances through the local Redis."""

from __future__ import annotations

import logging
import secrets
import time

import pytest

from bot.channels.limits import (
    RateLimiter,
    RedisRateLimiter,
    rate_limiter,
    window_limiter,
)
from bot.settings import parse_rate_limit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_conversation_may_send_the_limit_in_a_window_and_no_more() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 60, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("a") == pytest.approx(60)


def test_the_window_slides_rather_than_resetting() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 60, clock=clock)
    assert limiter.allow("a")  # t=0
    clock.now += 40
    assert limiter.allow("a")  # t=40
    clock.now += 10
    assert not limiter.allow("a")  # t=50: both still inside the last 60 s
    assert limiter.retry_after("a") == pytest.approx(10)
    clock.now += 10
    assert limiter.allow("a")  # t=60: the first has left the window
    assert not limiter.allow("a")


def test_refused_messages_do_not_extend_the_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 60, clock=clock)
    assert limiter.allow("a")
    for _ in range(5):
        clock.now += 10
        assert not limiter.allow("a")
    clock.now += 10  # 60 s after the only counted message
    assert limiter.allow("a")


def test_each_conversation_has_its_own_window() -> None:
    limiter = RateLimiter(2, 60, clock=Clock())
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    assert limiter.allow("b") and limiter.allow("b") and not limiter.allow("b")
    assert limiter.retry_after("c") == 0


def test_memory_is_bounded_by_forgetting_the_least_recent_conversations() -> None:
    limiter = RateLimiter(1, 60, clock=Clock(), max_keys=2)
    assert limiter.allow("a") and limiter.allow("b") and limiter.allow("c")
    assert not limiter.allow("c") and not limiter.allow("b")
    assert limiter.allow("a"), "a was forgotten when c arrived"


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [(None, (20, 60.0)), ("", (20, 60.0)), ("5/10", (5, 10.0)), ("7", (7, 60.0)), ("off", None)],
)
def test_the_setting_reads_messages_per_seconds(raw, parsed) -> None:
    assert parse_rate_limit(raw) == parsed


@pytest.mark.parametrize("raw", ["fast", "-1/60", "5/0", "5/x"])
def test_a_nonsense_setting_is_refused_not_ignored(raw) -> None:
    with pytest.raises(ValueError):
        parse_rate_limit(raw)


def test_the_default_is_twenty_a_minute_and_off_means_off() -> None:
    default = rate_limiter({})
    assert (default.limit, default.window) == (20, 60.0)
    unlimited = rate_limiter({"SEN_RATE_LIMIT": "off"})
    assert all(unlimited.allow("a") for _ in range(1000))


# --- Shared through Redis (the production profile's several Rasa instances) --------------------
# The local Redis (make test checks it runs); each test uses conversations of its own.

REDIS_URL = "redis://127.0.0.1:6379/12"
UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


def redis_env(url: str = REDIS_URL, limit: str = "3/60") -> dict[str, str]:
    return {"SEN_RATE_LIMIT": limit, "SEN_LIMITS_REDIS_URL": url}


@pytest.fixture
def conversation() -> str:
    return f"test-{secrets.token_hex(8)}"


def test_two_instances_count_one_conversation_against_one_limit(conversation) -> None:
    # Two limiters, as two Rasa processes behind nginx would each build one.
    first, second = rate_limiter(redis_env()), rate_limiter(redis_env())
    assert isinstance(first, RedisRateLimiter)
    verdicts = [(first if i % 2 == 0 else second).allow(conversation) for i in range(4)]
    assert verdicts == [True, True, True, False]
    assert not second.allow(conversation) and not first.allow(conversation)
    assert 55 < first.retry_after(conversation) <= 60
    assert second.allow(f"{conversation}-other"), "another conversation has its own window"


def test_the_shared_window_slides(conversation) -> None:
    first, second = rate_limiter(redis_env(limit="2/1")), rate_limiter(redis_env(limit="2/1"))
    assert first.allow(conversation) and second.allow(conversation)
    assert not first.allow(conversation)
    assert 0 < second.retry_after(conversation) <= 1
    time.sleep(1.1)
    assert second.retry_after(conversation) == 0
    assert second.allow(conversation)


def test_the_shared_window_expires_from_redis(conversation) -> None:
    import redis

    limiter = rate_limiter(redis_env(limit="2/1"))
    limiter.allow(conversation)
    key = f"sen:rate:messages:{conversation}"
    client = redis.Redis.from_url(REDIS_URL)
    assert 0 < client.pttl(key) <= 1000, "a quiet conversation must not stay in Redis"


def test_separate_purposes_keep_separate_windows(conversation) -> None:
    messages = window_limiter(1, 60, env=redis_env(), purpose="messages")
    notices = window_limiter(1, 60, env=redis_env(), purpose="notices")
    assert messages.allow(conversation) and notices.allow(conversation)
    assert not messages.allow(conversation) and not notices.allow(conversation)


def test_without_redis_the_process_keeps_its_own_limit_and_says_so(conversation, caplog) -> None:
    limiter = rate_limiter(redis_env(url=UNREACHABLE))
    with caplog.at_level(logging.ERROR, logger="bot.channels.limits"):
        verdicts = [limiter.allow(conversation) for _ in range(4)]
    assert verdicts == [True, True, True, False], "still limited, by this process"
    assert limiter.retry_after(conversation) == pytest.approx(60, abs=1)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "Redis can't be reached" in errors[0].getMessage()


def test_without_the_setting_the_window_is_in_this_process() -> None:
    limiter = rate_limiter({"SEN_RATE_LIMIT": "3/60"})
    assert type(limiter) is RateLimiter
