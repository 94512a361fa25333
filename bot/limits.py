"""Per-conversation rate limits and request size limits, shared by every channel.

A parent types a message every few seconds at most; a script can send hundreds a second, each
costing a model run and a tracker write. So each conversation may send ``SEN_RATE_LIMIT``
messages (default ``20/60``: 20 in any 60 seconds, a sliding window); beyond that the channel
answers with ``RATE_LIMITED_REPLY`` and the message never reaches Rasa. The window is kept in
the process's memory: Rasa runs as one process here, and a restart only forgets who was busy.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping

RATE_LIMITED = "rate_limited"
RATE_LIMITED_REPLY = "You're sending messages very quickly. Please wait a moment and try again."
DEFAULT_RATE_LIMIT = "20/60"
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


def parse_rate_limit(raw: str | None) -> tuple[int, float] | None:
    """``"20/60"`` → (20, 60.0); ``"0"`` or ``"off"`` → None (no limit)."""
    text = (raw or DEFAULT_RATE_LIMIT).strip().lower()
    if text in ("0", "off", "none"):
        return None
    count, _, seconds = text.partition("/")
    try:
        limit, window = int(count), float(seconds or 60)
    except ValueError:
        raise ValueError(f"SEN_RATE_LIMIT must look like 20/60, not {raw!r}") from None
    if limit < 1 or window <= 0:
        raise ValueError(f"SEN_RATE_LIMIT must look like 20/60, not {raw!r}")
    return limit, window


class _Unlimited(RateLimiter):
    def __init__(self) -> None:
        super().__init__(1, 1.0)

    def allow(self, key: str) -> bool:
        return True


def rate_limiter(env: Mapping[str, str] | None = None) -> RateLimiter:
    """The limiter ``SEN_RATE_LIMIT`` asks for (one per channel: each keeps its own window)."""
    env = os.environ if env is None else env
    parsed = parse_rate_limit(env.get("SEN_RATE_LIMIT"))
    return _Unlimited() if parsed is None else RateLimiter(*parsed)
