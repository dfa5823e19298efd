"""A send rate limit shared by every worker process: a token bucket (GCRA) kept in Redis.

Each caller reserves its messages atomically (one Lua call) and is told how long to wait
before sending them; so N workers together never exceed SEND_RATE_PER_SECOND. Without
Redis (the embedded default) the bucket is per process.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache

from django.conf import settings

# KEYS[1] = bucket; ARGV = now (s), seconds per message, burst (s), n messages.
# The key holds the "theoretical arrival time" of the next free slot.
_RESERVE = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local start = math.max(tat, now)
local new_tat = start + tonumber(ARGV[2]) * tonumber(ARGV[4])
redis.call('SET', KEYS[1], tostring(new_tat), 'EX', 3600)
return tostring(math.max(0, new_tat - now - tonumber(ARGV[3])))
"""


class TokenBucket:
    def __init__(self, *, rate_per_second: float, key: str, redis_url: str = "", burst_seconds: float = 1.0):
        self.rate = rate_per_second
        self.key = key
        self.burst = burst_seconds
        self._client = None
        self._script = None
        self._local_tat = 0.0
        self._lock = threading.Lock()
        if redis_url and rate_per_second > 0:
            import redis

            self._client = redis.Redis.from_url(redis_url)
            self._script = self._client.register_script(_RESERVE)

    def reserve(self, n: int = 1, *, now: float | None = None) -> float:
        """Reserve n sends; returns the seconds to wait before making them (0 = go)."""
        if self.rate <= 0:
            return 0.0
        now = time.time() if now is None else now
        interval = 1.0 / self.rate
        if self._script is not None:
            return float(self._script(keys=[self.key], args=[repr(now), repr(interval), repr(self.burst), n]))
        with self._lock:
            start = max(self._local_tat, now)
            self._local_tat = start + interval * n
            return max(0.0, self._local_tat - now - self.burst)

    def acquire(self, n: int = 1) -> None:
        wait = self.reserve(n)
        if wait > 0:
            time.sleep(wait)


@lru_cache(maxsize=4)
def bucket_for(backend: str) -> TokenBucket:
    """One bucket per backend (SMTP relay, ESP, mailbox), as its limit is the backend's."""
    return TokenBucket(
        rate_per_second=settings.SEND_RATE_PER_SECOND,
        key=f"rundbrief:send-rate:{backend}",
        redis_url=settings.REDIS_URL,
    )
