"""Shared test setup: PostgreSQL via DATABASE_URL (see Makefile), Celery eager unless a test
starts a real worker (those tests use their own subprocesses and settings)."""

from datetime import UTC, datetime

import pytest
import time_machine

from rundbrief.celery import app as celery_app

# Mid-morning in Berlin, far from midnight: dates computed in a test and in the code agree.
FROZEN_AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _eager_celery():
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language: a request with Accept-Language: de (or a
    translation.activate in the code) leaves German active in the thread, and a later test
    reading English messages then failed depending on the order (found with make test-random)."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate limits and throttles live in the cache: every test starts with a clean one."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _two_factor_not_enforced(settings):
    """Tests log staff in directly; the two-factor tests switch enforcement on themselves."""
    settings.TWO_FACTOR_REQUIRED_GROUPS = []
    settings.TWO_FACTOR_REQUIRED_FOR_SUPERUSERS = False
    yield


@pytest.fixture(autouse=True)
def _answers_without_undo_window(settings):
    """Staff answers go out at once (eager tasks would re-run a not-yet-due answer's task in a
    loop); the inbox's undo-window tests set ANSWER_UNDO_SECONDS themselves."""
    settings.ANSWER_UNDO_SECONDS = 0
    yield


@pytest.fixture
def frozen_clock():
    """A wall clock that stands still (monotonic time still runs, so timeouts work): for tests
    that compare values signed or dated at two moments, e.g. a link in a page with one made by
    the test (signed tokens carry the second they were made), and for tests that count requests
    in django-ratelimit's clock windows (a window must not end in the middle of the test)."""
    with time_machine.travel(FROZEN_AT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def real_celery(settings):
    """Tasks go to Redis for a real worker process instead of running eagerly."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # the suite's own Redis DB: no stale tasks
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = True
