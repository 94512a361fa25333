"""Per-conversation rate limits and request size limits, shared by every channel.

A parent types a message every few seconds at most; a script can send hundreds a second, each
costing a model run and a tracker write. So each conversation may send ``SEN_RATE_LIMIT``
messages (default ``20/60``: 20 in any 60 seconds, a sliding window); beyond that the channel
answers with ``RATE_LIMITED_REPLY`` and the message never reaches Rasa.

One Rasa process (``make run``) keeps the window in its memory: a restart only forgets who was
busy. Several Rasa instances (the production profile, ``bot.production.profile``) share it in Redis
(``SEN_LIMITS_REDIS_URL``, set to ``SEN_REDIS_URL`` by the profile), so a conversation whose
messages nginx spreads over two instances is still held to one limit; the window is then kept
by Redis's clock, one script call per message. New conversations are limited the same way, per
client address (``SEN_SESSION_LIMIT``, default ``30/60``) and per widget socket. If Redis can't
be reached the process falls back to its own window, says so in its log, and goes back to Redis
once it answers again.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any

from bot.assistant import replies
from bot.settings import load_settings

logger = logging.getLogger(__name__)

RATE_LIMITED = "rate_limited"
RATE_LIMITED_REPLY = replies.text("limits.rate_limited")
SESSIONS_LIMITED_REPLY = replies.text("limits.sessions_limited")
# New conversations one widget socket may start (its "Clear" starts one): counted per socket in
# this process, as a socket stays on one instance.
SOCKET_SESSIONS = (5, 600.0)
# Bodies Rasa's web server accepts at all (the REST webhook, the HTTP API, socket.io polling):
# Sanic reads SANIC_REQUEST_MAX_SIZE from the environment and answers 413 above it.
MAX_REQUEST_BYTES = 64 * 1024


class RateLimiter:
    """At most ``limit`` events per key in any ``window`` seconds (a sliding window).

    ``clock`` is injectable for tests. At most ``max_keys`` conversations are remembered (the
    least recently active are forgotten first), so a flood of new conversations cannot exhaust
    memory."""

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs at least 1 message in a positive window")
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one event for ``key``; False (and not counted) when over the limit."""
        now = self.clock()
        with self._lock:
            times = self._times.get(key)
            if times is None:
                times = self._times[key] = deque()
            self._times.move_to_end(key)
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return False
            times.append(now)
            while len(self._times) > self.max_keys:
                self._times.popitem(last=False)
            return True

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may send again (0 when it may now)."""
        with self._lock:
            times = self._times.get(key)
            if not times or len(times) < self.limit:
                return 0.0
            return max(0.0, times[0] + self.window - self.clock())


class _Unlimited(RateLimiter):
    def __init__(self) -> None:
        super().__init__(1, 1.0)

    def allow(self, key: str) -> bool:
        return True


# KEYS[1]: the conversation's sorted set of message times (microseconds, Redis's clock).
# ARGV: window (microseconds), limit, a unique member. Returns {1, 0} when counted, or
# {0, microseconds until the oldest counted message leaves the window}.
_ALLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(0, tonumber(oldest[2]) + window - now)}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return {1, 0}
"""
_RETRY_AFTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(0, tonumber(oldest[2]) + window - now)
"""


def shared_redis(url: str) -> Any:
    """A Redis client for state shared between instances. Short timeouts: these calls are made
    on Rasa's event loop, so a Redis that hangs must not hold every conversation up for long."""
    import redis

    return redis.Redis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
    )


class SharedFailure:
    """Logs that shared state is unreachable once, not on every message, and when it is back."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down = False

    def failed(self, error: Exception) -> None:
        if not self.down:
            logger.error(
                "%s: Redis can't be reached (%s); this process uses its own memory until it "
                "answers again.",
                self.what,
                error,
            )
        self.down = True

    def worked(self) -> None:
        if self.down:
            logger.warning("%s: Redis answers again; state is shared again.", self.what)
        self.down = False


class RedisRateLimiter(RateLimiter):
    """The same sliding window, kept in Redis so every Rasa instance counts against it."""

    def __init__(self, limit: int, window: float, client: Any, prefix: str) -> None:
        super().__init__(limit, window)  # the in-process window: used only while Redis is down
        self.client = client
        self.prefix = prefix
        self._allow = client.register_script(_ALLOW)
        self._retry_after = client.register_script(_RETRY_AFTER)
        self._failure = SharedFailure(f"rate limit ({prefix})")

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def allow(self, key: str) -> bool:
        import redis

        window = int(self.window * 1_000_000)
        member = secrets.token_hex(8)
        try:
            counted, _ = self._allow(keys=[self._key(key)], args=[window, self.limit, member])
        except redis.RedisError as error:
            self._failure.failed(error)
            return super().allow(key)
        self._failure.worked()
        return bool(counted)

    def retry_after(self, key: str) -> float:
        import redis

        window = int(self.window * 1_000_000)
        try:
            wait = self._retry_after(keys=[self._key(key)], args=[window, self.limit])
        except redis.RedisError as error:
            self._failure.failed(error)
            return super().retry_after(key)
        return max(0.0, int(wait) / 1_000_000)


def rate_limiter(env: Mapping[str, str] | None = None, purpose: str = "messages") -> RateLimiter:
    """The limiter ``SEN_RATE_LIMIT`` asks for: in Redis when ``SEN_LIMITS_REDIS_URL`` is set,
    else in this process. ``purpose`` keeps separate windows apart in Redis."""
    parsed = load_settings(env).limits.rate_limit
    if parsed is None:
        return _Unlimited()
    return window_limiter(*parsed, env=env, purpose=purpose)


def session_limiter(env: Mapping[str, str] | None = None) -> RateLimiter:
    """New conversations per client address (``SEN_SESSION_LIMIT``), shared through Redis when
    configured: without it a script could start conversations as fast as it liked, each one
    with its own ``SEN_RATE_LIMIT``, and get round that limit."""
    parsed = load_settings(env).limits.session_limit
    if parsed is None:
        return _Unlimited()
    return window_limiter(*parsed, env=env, purpose="sessions")


def window_limiter(
    limit: int, window: float, env: Mapping[str, str] | None = None, purpose: str = "messages"
) -> RateLimiter:
    """At most ``limit`` per ``window`` seconds per key, shared through Redis when configured."""
    url = load_settings(env).limits.redis_url
    if not url:
        return RateLimiter(limit, window)
    return RedisRateLimiter(limit, window, shared_redis(url), f"sen:rate:{purpose}")
