"""The shared send rate limit: a token bucket in Redis, shared by every process using the key."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from campaigns.ratelimit import TokenBucket


@pytest.fixture
def key() -> str:
    return f"test:rate:{uuid.uuid4().hex}"


def test_bucket_allows_a_burst_then_spaces_sends(key):
    bucket = TokenBucket(rate_per_second=10, key=key, redis_url=settings.REDIS_URL, burst_seconds=1.0)
    now = 1_000_000.0
    waits = [bucket.reserve(1, now=now) for _ in range(12)]
    assert waits[:10] == [0.0] * 10  # one second's worth goes at once
    assert waits[10] == pytest.approx(0.1) and waits[11] == pytest.approx(0.2)
    # Time passing refills it.
    assert bucket.reserve(1, now=now + 5) == 0.0


def test_two_workers_share_one_bucket(key):
    worker_a = TokenBucket(rate_per_second=100, key=key, redis_url=settings.REDIS_URL, burst_seconds=0.0)
    worker_b = TokenBucket(rate_per_second=100, key=key, redis_url=settings.REDIS_URL, burst_seconds=0.0)
    now = 2_000_000.0
    waits = [w.reserve(50, now=now) for w in (worker_a, worker_b)]
    # 100 messages at 100/s: together they are told to spread over a full second.
    assert waits == [pytest.approx(0.5), pytest.approx(1.0)]


def test_zero_rate_means_unlimited(key):
    assert TokenBucket(rate_per_second=0, key=key, redis_url=settings.REDIS_URL).reserve(10_000) == 0.0
