"""Processing stored inbound mail: drains, batches, retries of unfinished claims, reprocessing."""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from replies.addresses import token_from_address
from replies.matching import Match, Prefetched, match_mail
from replies.models import InboundMessage
from replies.parsing import ParsedMail, parse_mail
from replies.pipeline import chain
from replies.pipeline.rules import Context
from replies.services.claims import Claim, _claim, _release, claim_limit_error
from replies.threading import PrefetchedConversations

logger = logging.getLogger(__name__)


def _enqueue(inbound_id: int) -> None:
    """Make sure a drain will process this committed message (the id is picked up by status)."""
    schedule_drain()


# A drain claims whatever is "received", so one queued drain serves every message stored
# before it starts: while one is queued, storing more need not queue another.
DRAIN_PENDING_KEY = "replies:inbound-drain-pending"
# A drain starts this long after it is queued, so that it finds a batch rather than the one
# message that queued it: mail arriving meanwhile shares it (fewer tasks, commits, lookups).
DRAIN_LINGER_SECONDS = 0.25
DRAIN_PENDING_SECONDS = 2  # a lost drain (worker killed) only delays the next one this long
PROCESS_BATCH_SIZE = 50
DRAIN_MAX_BATCHES = 100  # then hand over to a fresh task: tasks stay short


_own_drain_queued_at = [-1.0]  # monotonic time this process last queued a drain


def schedule_drain() -> None:
    """Queue a drain unless one is queued and not yet started (it will see what is committed now)."""
    from replies.tasks import drain_inbound

    eager = _runs_eagerly()
    if not eager and _own_drain_cannot_have_started():
        return
    try:
        if not eager and not cache.add(DRAIN_PENDING_KEY, 1, DRAIN_PENDING_SECONDS):
            return
        _own_drain_queued_at[0] = time.monotonic()
        drain_inbound.apply_async(countdown=DRAIN_LINGER_SECONDS)
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
    from replies.tasks import drain_inbound

    return bool(drain_inbound.app.conf.task_always_eager)


def _forget_pending_drain() -> None:
    try:
        cache.delete(DRAIN_PENDING_KEY)
    except Exception:  # noqa: BLE001 - the flag expires by itself
        logger.warning("could not clear the inbound drain flag", exc_info=True)


def drain_inbound(*, batch_size: int = PROCESS_BATCH_SIZE, max_batches: int = DRAIN_MAX_BATCHES) -> int:
    """Process received messages until none is left; returns how many were claimed.

    Fresh messages (never claimed) go first, in batches; then messages claimed before
    whose claim never finished (their worker died), one at a time: see `process_retry`.
    The pending flag goes first: a message committed from now on either is claimed by one
    of these batches or queues a drain of its own, so none is left waiting.
    """
    _forget_pending_drain()
    total = 0
    for _batch in range(max_batches):
        claimed = process_received_batch(limit=batch_size)
        total += claimed
        if claimed < batch_size:
            break  # rows skipped as locked belong to a concurrent drain
    else:
        schedule_drain()  # more is waiting: a fresh task goes on with it
        return total
    for _retry in range(max_batches):
        if not process_retry():
            break
        total += 1
    else:
        schedule_drain()
    return total


PROCESSED_FIELDS = ["kind", "rule_hits", "match_method", "status", "processed_at", "error"]


def _relax_commit() -> None:
    """Processing commits need not wait for the disk (PostgreSQL's synchronous_commit=off).

    Safe because the raw message was committed synchronously before the sender got its
    250: if the server crashed within the next moment, the result of processing could be
    lost, the message would still be "received", and requeue_stale_inbound processes it
    again. Halves the cost of a commit on this kind of machine.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@dataclass
class BatchLookups:
    """What a batch looks up once instead of once per message; None: query as usual."""

    deliveries: Prefetched | None = None
    conversations: PrefetchedConversations | None = None


def _process_locked(
    inbound: InboundMessage,
    mail: ParsedMail | None = None,
    lookups: BatchLookups | None = None,
    *,
    save: bool = True,
) -> None:
    """Recognise, match, thread and route one locked message, and mark it processed.

    save=False leaves the row's update to the caller (`_save_processed`, once per batch).
    """
    _crash_for_tests(inbound)
    lookups = lookups or BatchLookups()
    if mail is None:
        mail = parse_mail(bytes(inbound.raw), inbound.envelope_to)
    match = match_mail(mail, lookups.deliveries)
    ctx = Context(
        mail=mail, match=match, envelope_from=inbound.envelope_from, conversations=lookups.conversations
    )
    chain.run(inbound, ctx)
    inbound.rule_hits = [
        {"rule": "matching", "hit": match.matched, "reasons": [match.reason] if match.reason else []},
        *inbound.rule_hits,
    ]
    inbound.match_method = match.method
    inbound.status = InboundMessage.Status.PROCESSED
    inbound.processed_at = timezone.now()
    inbound.error = ""
    if save:
        inbound.save(update_fields=PROCESSED_FIELDS)


_SAVE_PROCESSED_SQL = """
    UPDATE {table} AS m
    SET kind = v.kind, rule_hits = v.rule_hits::jsonb, match_method = v.match_method,
        status = v.status, processed_at = v.processed_at, error = v.error
    FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],
                %s::text[])
        AS v(id, kind, rule_hits, match_method, status, processed_at, error)
    WHERE m.id = v.id
"""


def _save_processed(batch: list[InboundMessage]) -> None:
    """Write the processed fields of a whole batch in one UPDATE instead of one per message."""
    if connection.vendor != "postgresql":
        InboundMessage.objects.bulk_update(batch, PROCESSED_FIELDS)
        return
    # One array per column, in the order of PROCESSED_FIELDS (as in the SQL).
    columns = {name: [getattr(inbound, name) for inbound in batch] for name in PROCESSED_FIELDS}
    columns["rule_hits"] = [json.dumps(hits) for hits in columns["rule_hits"]]
    params = [[inbound.pk for inbound in batch], *columns.values()]
    with connection.cursor() as cursor:
        cursor.execute(_SAVE_PROCESSED_SQL.format(table=InboundMessage._meta.db_table), params)


def _mark_failed(inbound_id: int) -> None:
    """Call from an except block: the message shows in the failed list with its error."""
    logger.exception("processing inbound message #%s failed", inbound_id)
    InboundMessage.objects.filter(pk=inbound_id).update(
        status=InboundMessage.Status.FAILED,
        error=traceback.format_exc()[-10000:],
    )


def process_inbound(*, inbound_id: int) -> InboundMessage:
    """Parse, recognise, match, thread and route one stored message, all or nothing.

    A failure leaves no half-done work (one transaction) and marks the message failed with
    its error, so it shows in the inbox's failed list and can be reprocessed. A message
    another worker is processing right now is left to it.
    """
    _claim_and_process("m.id = %s", [inbound_id], limit=1)
    return InboundMessage.objects.get(pk=inbound_id)


def process_received_batch(*, limit: int = PROCESS_BATCH_SIZE) -> int:
    """Claim up to `limit` fresh received messages and process them in one transaction; returns the count.

    The batch first runs in one savepoint, without one per message (two round trips per
    message fewer). If any message crashes, that work is rolled back and the batch is
    redone with a savepoint per message: a crash then rolls back that message's work only
    and marks it failed (with its error, in the same commit); the others go on. Messages
    claimed by a concurrent batch are skipped, so two workers never process one message.
    """
    return _claim_and_process("m.attempts = 0", [], limit=limit)


def process_retry() -> bool:
    """Claim one received message that was claimed before and never finished, and process it alone.

    Such a message was in a batch whose worker process died (segfault, OOM killer,
    SIGKILL), maybe because of it, maybe because of a batch-mate: alone, it can only take
    itself down, and its count of claims tells the poison apart. Those with the fewest
    claims go first. Returns False when there is none (left) to claim.
    """
    return bool(_claim_and_process("m.attempts > 0", [], limit=1, order="m.attempts, m.id"))


def _claim_and_process(where: str, params: list, *, limit: int, order: str = "m.id") -> int:
    claimed = _claim(where, params, limit=limit, order=order)
    try:
        if claimed:
            _process_claimed(claimed)
    finally:
        _release(claimed)
    return len(claimed)


def _process_claimed(claims: list[Claim]) -> None:
    """Fail what was claimed too often; process the rest in one transaction."""
    limit = settings.INBOUND_MAX_ATTEMPTS
    for claim in claims:
        if claim.attempts > limit:
            logger.error("inbound message #%s: %s", claim.inbound_id, claim_limit_error(claim.attempts))
            InboundMessage.objects.filter(pk=claim.inbound_id, status=InboundMessage.Status.RECEIVED).update(
                status=InboundMessage.Status.FAILED, error=claim_limit_error(claim.attempts)
            )
    ids = [claim.inbound_id for claim in claims if claim.attempts <= limit]
    if not ids:
        return
    with transaction.atomic():
        _relax_commit()
        batch = list(
            InboundMessage.objects.select_for_update()
            .filter(pk__in=ids, status=InboundMessage.Status.RECEIVED)
            .order_by("id")
        )
        mails = {inbound.pk: _parse_or_none(inbound) for inbound in batch}
        if not _process_all_or_nothing(batch, mails):
            _process_one_by_one(_reload(batch), mails)


_CRASH_MARKER_ENV = "RUNDBRIEF_TEST_CRASH_MARKER"


def _crash_for_tests(inbound: InboundMessage) -> None:
    """TEST HOOK, inert in production: when the environment variable RUNDBRIEF_TEST_CRASH_MARKER
    is set (only tests/replies/test_worker_crash.py sets it, for the worker processes it
    starts), processing a message whose subject contains its value ends this process at
    once with exit code 137, as the OOM killer would: no exception, no cleanup."""
    marker = os.environ.get(_CRASH_MARKER_ENV)
    if marker and marker in inbound.subject:
        os._exit(137)


def _reload(batch: list[InboundMessage]) -> list[InboundMessage]:
    """Fresh copies of rows still locked by this transaction (the failed pass changed the instances)."""
    return list(InboundMessage.objects.filter(pk__in=[inbound.pk for inbound in batch]).order_by("id"))


def _process_all_or_nothing(batch: list[InboundMessage], mails: dict[int, ParsedMail | None]) -> bool:
    """The fast path: every message of the batch in one savepoint; False (nothing kept) if one crashed."""
    if any(mail is None for mail in mails.values()):
        return False  # an unreadable message would crash it: go one by one at once
    try:
        with transaction.atomic():
            lookups = _batch_lookups(list(mails.values()))
            for inbound in batch:
                _process_locked(inbound, mails[inbound.pk], lookups, save=False)
                if inbound.kind != InboundMessage.Kind.HUMAN:
                    lookups = None  # unsubscribes and bounces change subscribers and deliveries
            _save_processed(batch)
    except Exception:  # noqa: BLE001 - redone message by message, where the crash is recorded
        logger.info("a message in a batch of %d crashed; redoing it message by message", len(batch))
        return False
    return True


def _process_one_by_one(batch: list[InboundMessage], mails: dict[int, ParsedMail | None]) -> None:
    """Each message in its own savepoint: a crashing one is marked failed, the others go on."""
    lookups = _batch_lookups([mail for mail in mails.values() if mail is not None])
    for inbound in batch:
        if not _process_in_savepoint(inbound, mails[inbound.pk], lookups):
            lookups = None  # after a failure, trust nothing looked up before it
        elif inbound.kind != InboundMessage.Kind.HUMAN:
            lookups = None  # unsubscribes and bounces change subscribers and deliveries


def _parse_or_none(inbound: InboundMessage) -> ParsedMail | None:
    try:
        return parse_mail(bytes(inbound.raw), inbound.envelope_to)
    except Exception:  # noqa: BLE001 - parsed again in the message's own savepoint, failing there
        return None


def _batch_lookups(mails: list[ParsedMail]) -> BatchLookups | None:
    """Deliveries by reply token and their conversations, for the whole batch at once."""
    try:
        with transaction.atomic():
            deliveries = Prefetched.for_mails(mails)
            matches = [_prefetched_match(deliveries.deliveries, mail) for mail in mails]
            conversations = PrefetchedConversations.for_matches([m for m in matches if m is not None])
    except Exception:  # noqa: BLE001 - only an optimisation: each message queries for itself
        logger.exception("looking up a batch of inbound messages failed; querying one by one")
        return None
    return BatchLookups(deliveries=deliveries, conversations=conversations)


def _prefetched_match(deliveries: dict, mail: ParsedMail) -> Match | None:
    """The match a mail will get from a prefetched delivery (its first token's), if any."""
    for address in mail.recipients:
        token = token_from_address(address)
        if token:
            delivery = deliveries.get(token)
            return Match(subscriber=delivery.subscriber, campaign=delivery.campaign) if delivery else None
    return None


def _process_in_savepoint(
    inbound: InboundMessage, mail: ParsedMail | None, lookups: BatchLookups | None
) -> bool:
    try:
        with transaction.atomic():
            _process_locked(inbound, mail, lookups)
        return True
    except Exception:
        _mark_failed(inbound.pk)
        return False


def reprocess_inbound(*, inbound: InboundMessage) -> None:
    """Put a failed message back into processing (after a fix, or when the cause has passed)."""
    updated = InboundMessage.objects.filter(pk=inbound.pk, status=InboundMessage.Status.FAILED).update(
        status=InboundMessage.Status.RECEIVED,
        attempts=0,  # a fresh start: its claims count anew
    )
    if updated:
        transaction.on_commit(lambda: _enqueue(inbound.pk))


def requeue_stale_inbound(*, older_than: timedelta | None = None) -> int:
    """Drain stored messages that were never processed: the broker was down when they came in,
    or the worker process died with their batch (the drain then retries them one at a time)."""
    if older_than is None:
        older_than = timedelta(minutes=settings.INBOUND_REQUEUE_AFTER_MINUTES)
    stale = InboundMessage.objects.filter(
        status=InboundMessage.Status.RECEIVED, received_at__lt=timezone.now() - older_than
    ).count()
    if stale:
        _enqueue(0)
    return stale
