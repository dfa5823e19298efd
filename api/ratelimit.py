"""Per-key rate limit: a fixed one-minute window counted in the shared cache (Redis)."""

from __future__ import annotations

import time

from django.core.cache import cache

from api.models import ApiKey

WINDOW_SECONDS = 60


def seconds_until_allowed(key: ApiKey) -> int:
    """0 if this request is within the key's limit (and counts it), else the wait in seconds."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    counter = f"api:rate:{key.pk}:{window}"
    cache.add(counter, 0, timeout=WINDOW_SECONDS + 5)
    try:
        used = cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.set(counter, 1, timeout=WINDOW_SECONDS + 5)
        used = 1
    if used <= key.rate_limit_per_minute:
        return 0
    return max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
