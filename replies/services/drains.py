"""Drain scheduling: when a drain of stored inbound mail is queued, and what a drain does.

A drain claims whatever is "received" and processes it in batches (replies.services.batches);
storing a message, reprocessing one and the beat sweeper make sure a drain will come.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from replies.models import InboundMessage
from replies.services.batches import PROCESS_BATCH_SIZE, process_large, process_received_batch, process_retry
from rundbrief import effects

logger = logging.getLogger(__name__)

DRAIN_TASK = "replies.tasks.drain_inbound_task"
# A drain claims whatever is "received", so one queued drain serves every message stored
# before it starts: while one is queued, storing more need not queue another.
DRAIN_PENDING_KEY = "replies:inbound-drain-pending"
# A drain starts this long after it is queued, so that it finds a batch rather than the one
# message that queued it: mail arriving meanwhile shares it (fewer tasks, commits, lookups).
DRAIN_LINGER_SECONDS = 0.25
DRAIN_PENDING_SECONDS = 2  # a lost drain (worker killed) only delays the next one this long
DRAIN_MAX_BATCHES = 100  # then hand over to a fresh task: tasks stay short
# ... and after this long, whatever is left (a task's time limit, INBOUND_TASK_TIME_LIMIT_SECONDS,
# then only ends a drain stuck in one message, never a healthy one that had much to do).
DRAIN_MAX_SECONDS = 60


_own_drain_queued_at = [-1.0]  # monotonic time this process last queued a drain


def schedule_drain() -> None:
    """Queue a drain unless one is queued and not yet started (it will see what is committed now)."""
    eager = _runs_eagerly()
    if not eager and _own_drain_cannot_have_started():
        return
    try:
        if not eager and not cache.add(DRAIN_PENDING_KEY, 1, DRAIN_PENDING_SECONDS):
            return
        _own_drain_queued_at[0] = time.monotonic()
        effects.task(DRAIN_TASK).apply_async(countdown=DRAIN_LINGER_SECONDS)
    except Exception:  # noqa: BLE001 - stored is what counts; requeue_stale_inbound picks it up
        _own_drain_queued_at[0] = -1.0
        _forget_pending_drain()
        logger.exception("could not enqueue an inbound drain; the sweeper will retry")


def _own_drain_cannot_have_started() -> bool:
    """A drain this process queued waits out its countdown: until half of it has passed (the
    other half is a margin for clocks differing between machines) it is sure to see a
    message committed now. Saves the receiver a Redis round trip for most messages."""
    return time.monotonic() - _own_drain_queued_at[0] < DRAIN_LINGER_SECONDS / 2


def _runs_eagerly() -> bool:
    """Eager tasks (tests, no broker) run right away: there is nothing pending to share."""
    return effects.runs_eagerly()


def _forget_pending_drain() -> None:
    try:
        cache.delete(DRAIN_PENDING_KEY)
    except Exception:  # noqa: BLE001 - the flag expires by itself
        logger.warning("could not clear the inbound drain flag", exc_info=True)


def drain_inbound(*, batch_size: int = PROCESS_BATCH_SIZE, max_batches: int = DRAIN_MAX_BATCHES) -> int:
    """Process received messages until none is left; returns how many were claimed.

    Fresh messages (never claimed) go first, in batches, with one big one (over
    INBOUND_LARGE_MESSAGE_BYTES, processed alone) after each batch; then messages claimed
    before whose claim never finished (their worker died), one at a time: see
    `process_retry`. After DRAIN_MAX_BATCHES rounds or DRAIN_MAX_SECONDS a fresh task goes on.
    The pending flag goes first: a message committed from now on either is claimed by one
    of these batches or queues a drain of its own, so none is left waiting.
    """
    _forget_pending_drain()
    deadline = time.monotonic() + DRAIN_MAX_SECONDS
    total = 0
    for _batch in range(max_batches):
        claimed = process_received_batch(limit=batch_size)
        large = process_large()  # one big message between batches: neither kind starves the other
        total += claimed + large
        if claimed < batch_size and not large:
            break  # rows skipped as locked belong to a concurrent drain
        if time.monotonic() > deadline:
            break
    else:
        schedule_drain()  # more is waiting: a fresh task goes on with it
        return total
    for _retry in range(max_batches):
        if time.monotonic() > deadline:
            break
        if not process_retry():
            return total
        total += 1
    schedule_drain()
    return total


def reprocess_inbound(*, inbound: InboundMessage) -> None:
    """Put a failed message back into processing (after a fix, or when the cause has passed)."""
    updated = InboundMessage.objects.filter(pk=inbound.pk, status=InboundMessage.Status.FAILED).update(
        status=InboundMessage.Status.RECEIVED,
        attempts=0,  # a fresh start: its claims count anew
    )
    if updated:
        transaction.on_commit(schedule_drain)


def requeue_stale_inbound(*, older_than: timedelta | None = None) -> int:
    """Drain stored messages that were never processed: the broker was down when they came in,
    or the worker process died with their batch (the drain then retries them one at a time)."""
    if older_than is None:
        older_than = timedelta(minutes=settings.INBOUND_REQUEUE_AFTER_MINUTES)
    stale = InboundMessage.objects.filter(
        status=InboundMessage.Status.RECEIVED, received_at__lt=timezone.now() - older_than
    ).count()
    if stale:
        schedule_drain()
    return stale
