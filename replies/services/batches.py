"""Batch processing of stored inbound mail: claim, parse, decide (replies.pipeline.chain), save.

A batch runs in one transaction; a message that crashes is redone alone in its own
savepoint and marked failed, the others go on. What a batch looks up once (deliveries by
reply token, their conversations) is shared by its messages (BatchLookups).
"""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from replies.matching import Match, Prefetched, reply_tokens
from replies.models import InboundMessage, Message
from replies.parsing import ParsedMail, parse_mail
from replies.pipeline import chain
from replies.services.answers import queue_staff_answer
from replies.services.claims import Claim, _claim, _release, claim_limit_error
from replies.threads import PrefetchedConversations
from rundbrief.mail.text import safe_json, safe_text

logger = logging.getLogger(__name__)

PROCESS_BATCH_SIZE = 50


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
    """Match, recognise, thread and route one locked message, and mark it processed.

    save=False leaves the row's update to the caller (`_save_processed`, once per batch).
    """
    lookups = lookups or BatchLookups()
    if mail is None:
        mail = parse_mail(_raw_of(inbound), inbound.envelope_to)
    outcome = chain.decide(
        inbound,
        mail,
        deliveries=lookups.deliveries,
        conversations=lookups.conversations,
        post_answer=queue_staff_answer,
    )
    if outcome.answer is not None:  # a staff answer by mail: the answer keeps the mail it came as
        Message.objects.filter(pk=outcome.answer.pk).update(inbound=inbound)
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
    columns["rule_hits"] = [json.dumps(safe_json(hits)) for hits in columns["rule_hits"]]
    params = [[inbound.pk for inbound in batch], *columns.values()]
    with connection.cursor() as cursor:
        cursor.execute(_SAVE_PROCESSED_SQL.format(table=InboundMessage._meta.db_table), params)


def _mark_failed(inbound_id: int) -> None:
    """Call from an except block: the message shows in the failed list with its error."""
    logger.exception("processing inbound message #%s failed", inbound_id)
    InboundMessage.objects.filter(pk=inbound_id).update(
        status=InboundMessage.Status.FAILED,
        error=safe_text(traceback.format_exc()[-10000:]),
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

    Only messages up to INBOUND_LARGE_MESSAGE_BYTES: a big one is processed alone
    (process_large), so it holds no batch's transaction and row locks while it is parsed.

    The batch first runs in one savepoint, without one per message (two round trips per
    message fewer). If any message crashes, that work is rolled back and the batch is
    redone with a savepoint per message: a crash then rolls back that message's work only
    and marks it failed (with its error, in the same commit); the others go on. Messages
    claimed by a concurrent batch are skipped, so two workers never process one message.
    """
    return _claim_and_process(
        "m.attempts = 0 AND m.size <= %s", [settings.INBOUND_LARGE_MESSAGE_BYTES], limit=limit
    )


def process_large() -> bool:
    """Claim one fresh message over INBOUND_LARGE_MESSAGE_BYTES and process it alone, in its own
    transaction; False when there is none. Its memory and time are its own, not a batch's."""
    return bool(
        _claim_and_process("m.attempts = 0 AND m.size > %s", [settings.INBOUND_LARGE_MESSAGE_BYTES], limit=1)
    )


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
        # The raw bytes are read once, parsed, and let go: the rows (kept to the end of the
        # batch) do not carry them, so a worker never holds more than one message's bytes.
        batch = list(
            InboundMessage.objects.select_for_update()
            .filter(pk__in=ids, status=InboundMessage.Status.RECEIVED)
            .defer("raw")
            .order_by("id")
        )
        mails = {inbound.pk: _parse_or_none(inbound) for inbound in batch}
        if not _process_all_or_nothing(batch, mails):
            _process_one_by_one(_reload(batch), mails)


def _reload(batch: list[InboundMessage]) -> list[InboundMessage]:
    """Fresh copies of rows still locked by this transaction (the failed pass changed the instances)."""
    return list(
        InboundMessage.objects.filter(pk__in=[inbound.pk for inbound in batch]).defer("raw").order_by("id")
    )


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


RAW_READ_CHUNK_BYTES = 4 * 1024 * 1024

_RAW_CHUNK_SQL = "SELECT substring(raw FROM %s FOR %s) FROM {table} WHERE id = %s"


def _raw_of(inbound: InboundMessage) -> bytes | bytearray:
    """The raw bytes of a row read without them (read now, not kept on the row).

    On PostgreSQL in pieces of RAW_READ_CHUNK_BYTES: the driver receives bytea as hex text
    and decodes it, so reading 25 MB at once took ~150 MB for a moment; in pieces the
    worker holds the bytes once, plus one piece.
    """
    size = inbound.size
    if connection.vendor != "postgresql" or not size or size <= RAW_READ_CHUNK_BYTES:
        raw = InboundMessage.objects.filter(pk=inbound.pk).values_list("raw", flat=True).first()
        return bytes(raw or b"")
    buffer = bytearray(size)  # filled in place: no growing, no final copy
    filled = 0
    sql = _RAW_CHUNK_SQL.format(table=InboundMessage._meta.db_table)
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [filled + 1, RAW_READ_CHUNK_BYTES, inbound.pk])
            row = cursor.fetchone()
            length = len(row[0]) if row and row[0] is not None else 0
            if length:
                buffer[filled : filled + length] = row[0]
                filled += length
            del row
            if length < RAW_READ_CHUNK_BYTES or filled >= len(buffer):
                break
    del buffer[filled:]  # a size that was wrong: keep what is there
    return buffer


def _parse_or_none(inbound: InboundMessage) -> ParsedMail | None:
    try:
        return parse_mail(_raw_of(inbound), inbound.envelope_to)
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
    tokens = reply_tokens(mail)
    delivery = deliveries.get(tokens[0]) if tokens else None
    return Match(subscriber=delivery.subscriber, campaign=delivery.campaign) if delivery else None


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
