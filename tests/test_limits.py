"""The per-conversation rate limiter (bot.limits), with an injected clock."""

from __future__ import annotations

import pytest

from bot.limits import RateLimiter, parse_rate_limit, rate_limiter


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
