"""Shared test setup: PostgreSQL via DATABASE_URL (see Makefile), Celery eager unless a test
starts a real worker (those tests use their own subprocesses and settings)."""

import pytest

from rundbrief.celery import app as celery_app


@pytest.fixture(autouse=True)
def _eager_celery():
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate limits and throttles live in the cache: every test starts with a clean one."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def real_celery(settings):
    """Tasks go to Redis for a real worker process instead of running eagerly."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # the suite's own Redis DB: no stale tasks
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = True


@pytest.fixture
def frozen_clock(time_machine):
    """The clock stands still: for tests that compare signed or dated values, or count requests in
    django-ratelimit's clock windows (a window must not end in the middle of a test)."""
    time_machine.move_to("2026-12-01T10:00:00+00:00", tick=False)
    return time_machine
