"""Writes for replies: store inbound mail, process it, and everything staff do to a conversation.

Two kinds of failure, as in Zulip's email mirror: `RejectedMessage` is the sender's
fault (empty, unreadable, too large: a permanent refusal), `StorageUnavailable` is
ours (the database is down: a temporary refusal, so the sending MTA retries).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import formataddr, make_msgid, parseaddr

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from replies.addresses import new_reply_token, reply_address, token_from_address
from replies.matching import Match, Prefetched, match_mail
from replies.models import Conversation, ConversationEvent, InboundMessage, Message
from replies.parsing import POLICY, ParsedMail, parse_mail, safe_header
from replies.pipeline import chain
from replies.pipeline.rules import Context
from replies.reasons import reason, render
from replies.selectors import staff_display_name, wants_reply_notifications
from replies.threading import PrefetchedConversations

logger = logging.getLogger(__name__)


class InboundError(Exception):
    """Base of everything store_inbound refuses."""


class RejectedMessage(InboundError):
    """The sender's fault: do not retry (SMTP 5xx, exit code 65 for the pipe)."""


class MessageTooLarge(RejectedMessage):
    pass


class StorageUnavailable(InboundError):
    """Our fault, probably temporary: the sender should retry (SMTP 451, exit code 75 for the pipe)."""


def dedupe_key(raw: bytes, message_id: str) -> str:
    """Message-ID plus a hash of the content below the headers.

    Headers are left out because each hop adds its own Received/Delivered-To lines: the
    same message arriving by two routes (or retried by an MTA) is still recognised.
    Line endings are normalised for the same reason. Without a Message-ID the whole
    message counts.
    """
    if not message_id:
        return hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()
    normalised = raw.replace(b"\r\n", b"\n")
    _, _, body = normalised.partition(b"\n\n")
    content = hashlib.sha256(body).hexdigest()
    return hashlib.sha256(f"{message_id}\n{content}".encode()).hexdigest()


def store_inbound(
    raw: bytes, *, source: str, envelope_from: str = "", envelope_to: Sequence[str] = ()
) -> InboundMessage:
    """Store the raw message durably (once), then enqueue its processing after the commit.

    Returns the stored row, or the earlier row when this message was stored before
    (`duplicate` is then True on the returned instance).
    """
    if not raw or not raw.strip():
        raise RejectedMessage(_("The message is empty."))
    limit = settings.INBOUND_MAX_MESSAGE_BYTES
    if len(raw) > limit:
        raise MessageTooLarge(
            _("The message is %(size)d bytes; the limit is %(limit)d bytes.")
            % {"size": len(raw), "limit": limit}
        )
    headers = BytesHeaderParser(policy=POLICY).parsebytes(raw)
    if not headers.keys():
        raise RejectedMessage(_("This is not an email message: it has no header fields."))
    message_id = safe_header(headers, "Message-ID")[:998]
    key = dedupe_key(raw, message_id)
    try:
        try:
            with _own_savepoint():
                inbound = InboundMessage.objects.create(
                    raw=raw,
                    size=len(raw),
                    source=source,
                    envelope_from=envelope_from[:998],
                    envelope_to=list(envelope_to),
                    message_id=message_id,
                    dedupe_key=key,
                    from_address=safe_header(headers, "From")[:998],
                    subject=safe_header(headers, "Subject")[:998],
                )
        except IntegrityError:
            inbound = InboundMessage.objects.get(dedupe_key=key)
            inbound.duplicate = True
            logger.info("inbound message %s is a duplicate of #%s", message_id, inbound.pk)
            return inbound
    except DatabaseError as exc:
        raise StorageUnavailable(str(exc)) from exc
    inbound.duplicate = False
    transaction.on_commit(lambda: _enqueue(inbound.pk))
    return inbound


def _own_savepoint() -> contextlib.AbstractContextManager:
    """A savepoint inside a caller's transaction, so a duplicate does not break it.

    Outside one (the receivers), the INSERT runs in autocommit mode: one statement,
    committed synchronously, instead of BEGIN, INSERT and COMMIT round trips.
    """
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()


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


# --- Claims -----------------------------------------------------------------------------
#
# A claim counts itself in the row (attempts + 1) in a statement committed before any
# processing starts, so the count survives a worker process that dies while processing
# (a Python exception is caught per message; a segfault, the OOM killer or SIGKILL are
# not). A message claimed more than INBOUND_MAX_ATTEMPTS times is marked failed instead
# of being processed once more.
#
# On PostgreSQL the claimer also takes a session advisory lock per message, held until
# its processing has committed: concurrent claims skip a message that is being processed,
# however slow, so they never count against it. The lock (unlike a lease) needs no
# timeout: it goes away with the session of a worker that dies.

_CLAIM_LOCK_CLASS = 0x52424931  # advisory lock namespace of inbound claims ("RBI1")

_CLAIM_SQL = """
    WITH candidates AS MATERIALIZED (
        SELECT m.id FROM {table} AS m
        WHERE m.status = %s AND {where}
        ORDER BY {order} LIMIT %s
        FOR UPDATE SKIP LOCKED
    ), locked AS MATERIALIZED (
        SELECT id FROM candidates WHERE pg_try_advisory_lock(%s, (id %% 2147483647)::integer)
    )
    UPDATE {table} AS m SET attempts = m.attempts + 1
    FROM locked WHERE m.id = locked.id
    RETURNING m.id, m.attempts
"""

_RELEASE_SQL = "SELECT pg_advisory_unlock(%s, (id %% 2147483647)::integer) FROM unnest(%s::bigint[]) AS id"


@dataclass(frozen=True)
class Claim:
    inbound_id: int
    attempts: int  # claims so far, this one included


def _claim(where: str, params: list, *, limit: int, order: str = "m.id") -> list[Claim]:
    """Count a claim on up to `limit` received messages (committed at once) and lock them for this session.

    `where` and `order` are SQL on the alias m (constants of this module, never user input).
    """
    table = InboundMessage._meta.db_table
    if connection.vendor == "postgresql":
        sql = _CLAIM_SQL.format(table=table, where=where, order=order)
        with connection.cursor() as cursor:  # one statement: in autocommit, committed at once
            cursor.execute(sql, [InboundMessage.Status.RECEIVED, *params, limit, _CLAIM_LOCK_CLASS])
            rows = cursor.fetchall()
    else:  # SQLite (`make run`): one writer at a time, no row locks to take
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.id FROM {table} AS m WHERE m.status = %s AND {where} ORDER BY {order} LIMIT %s",
                [InboundMessage.Status.RECEIVED, *params, limit],
            )
            ids = [row[0] for row in cursor.fetchall()]
            InboundMessage.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1)
            rows = InboundMessage.objects.filter(pk__in=ids).values_list("id", "attempts")
    return [Claim(inbound_id=pk, attempts=attempts) for pk, attempts in sorted(rows)]


def _claim_and_process(where: str, params: list, *, limit: int, order: str = "m.id") -> int:
    claimed = _claim(where, params, limit=limit, order=order)
    try:
        if claimed:
            _process_claimed(claimed)
    finally:
        _release(claimed)
    return len(claimed)


def _release(claims: list[Claim]) -> None:
    """Drop this session's advisory locks on the claimed messages (after their processing committed)."""
    if not claims or connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(_RELEASE_SQL, [_CLAIM_LOCK_CLASS, [claim.inbound_id for claim in claims]])
    except DatabaseError:  # the connection is gone, and the session's locks with it
        logger.warning("could not release inbound claim locks", exc_info=True)


def claim_limit_error(attempts: int) -> str:
    return (
        f"Claimed {attempts} times without finishing (the limit is INBOUND_MAX_ATTEMPTS="
        f"{settings.INBOUND_MAX_ATTEMPTS}): the worker process probably died while processing "
        "this message (a crash, the OOM killer, a kill). Not processed again; reprocess it once "
        "the cause is fixed."
    )


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


# --- Staff actions ------------------------------------------------------------------------


class ReplyNotPossible(Exception):
    """The conversation has nobody to answer to (e.g. the subscriber was erased)."""


def _sender_address() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def _last_inbound(conversation: Conversation) -> Message | None:
    return (
        conversation.messages.filter(direction=Message.Direction.INBOUND)
        .order_by("-created_at", "-id")
        .first()
    )


def _reply_subject(subject: str) -> str:
    subject = subject.strip() or _("Your message")
    lowered = subject.lower()
    return subject if lowered.startswith(("re:", "aw:")) else f"Re: {subject}"


def _quote(message: Message) -> str:
    text = message.stripped_text or message.text
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    return f"{message.from_address}:\n{quoted}"


# Sending our answers: stored at once ("queued"), sent by replies.tasks.send_staff_reply.
# Temporary failures are tried again after 30 s, 2 min, 8 min, ...; after STAFF_REPLY_MAX_ATTEMPTS
# tries (or at once for a permanent refusal) the answer is "failed" and staff can send it again.
STAFF_REPLY_MAX_ATTEMPTS = 5
STAFF_REPLY_RETRY_BASE_SECONDS = 30
# Queued or sending this long after it was due: its task or worker was lost, the sweeper
# (requeue_stuck_staff_replies) enqueues it again. Well above any SMTP/ESP timeout.
STAFF_REPLY_STUCK_AFTER = timedelta(minutes=10)


class TemporarySendError(Exception):
    """The mail server or ESP could not take the answer now: try again later."""


def send_staff_reply(*, conversation: Conversation, author: AbstractBaseUser, text: str) -> Message:
    """Store an answer under the staff member's name, threaded to the subscriber's last mail.

    The answer is recorded at once as "queued" (with its Message-ID, In-Reply-To and
    References, a fresh reply token, the author's name and signature) and the conversation
    counts as answered; a task sends it after the commit (see deliver_staff_reply).
    """
    recipient = conversation.subscriber.email if conversation.subscriber_id else conversation.contact_address
    if not recipient:
        raise ReplyNotPossible(_("This conversation has no address to answer to."))
    text = text.strip()
    if not text:
        raise ValueError(_("The answer is empty."))
    last = _last_inbound(conversation)
    sender = _sender_address()
    message_id = make_msgid(domain=sender.rpartition("@")[2] or settings.REPLY_DOMAIN)
    in_reply_to = references = ""
    if last is not None and last.message_id:
        references = " ".join(filter(None, [last.references, last.message_id]))
        in_reply_to = last.message_id
    signature = ""
    try:
        signature = author.staff_profile.signature.strip()
    except Exception:  # noqa: BLE001 - no profile: no signature
        signature = ""
    body = text + (f"\n\n-- \n{signature}" if signature else "")
    if last is not None:
        body += "\n\n" + _quote(last)
    now = timezone.now()
    with transaction.atomic():
        answer = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            author=author,
            from_address=formataddr((staff_display_name(author), sender)),
            to_address=recipient,
            subject=_reply_subject(last.subject if last else conversation.subject),
            text=body,
            stripped_text=text,
            message_id=message_id,
            in_reply_to=in_reply_to,
            references=references,
            reply_token=new_reply_token(),
            send_status=Message.SendStatus.QUEUED,
            send_status_at=now,
        )
        Conversation.objects.filter(pk=conversation.pk).update(waiting_since=None, last_message_at=now)
        _enqueue_staff_reply(answer.pk)
    conversation.refresh_from_db()
    return answer


def _enqueue_staff_reply(message_id: int, *, countdown: float | None = None) -> None:
    """Queue the sending task after the commit; if the broker is down the sweeper does it later."""
    from replies.tasks import send_staff_reply as task

    def enqueue() -> None:
        try:
            task.apply_async((message_id,), countdown=countdown)
        except Exception:  # noqa: BLE001 - stored is what counts; requeue_stuck_staff_replies retries
            logger.exception("could not enqueue sending answer #%s; the sweeper will retry", message_id)

    transaction.on_commit(enqueue)


def staff_reply_email(answer: Message) -> EmailMessage:
    """The mail of a stored answer, exactly as the subscriber gets it."""
    headers = {"Message-ID": answer.message_id}
    if answer.in_reply_to:
        headers["In-Reply-To"] = answer.in_reply_to
        headers["References"] = answer.references
    return EmailMessage(
        subject=answer.subject,
        body=answer.text,
        from_email=answer.from_address,
        to=[answer.to_address],
        reply_to=[reply_address(answer.reply_token)],
        headers=headers,
    )


def classify_send_error(exc: BaseException) -> bool:
    """True if the failure is temporary (try again later), False if the answer was refused.

    SMTP: 4xx and lost or refused connections are temporary, 5xx permanent (RFC 5321).
    ESPs (anymail): rejected recipients, and HTTP 4xx other than 408/429, are permanent;
    no answer, 408, 429 and 5xx are temporary. Anything else (a bug, a bad setting) is
    permanent: the answer shows as failed with the reason instead of being tried forever.
    """
    import smtplib

    if isinstance(exc, TemporarySendError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(
        exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | ConnectionError | TimeoutError
    ):
        return True
    try:
        from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
    except ImportError:  # pragma: no cover - anymail is a dependency
        AnymailAPIError = AnymailRecipientsRefused = ()  # noqa: N806
    if AnymailRecipientsRefused and isinstance(exc, AnymailRecipientsRefused):
        return False
    if AnymailAPIError and isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        return status is None or status in (408, 429) or status >= 500
    return isinstance(exc, OSError)  # socket errors: no route, refused connection, DNS


def _send_error_text(exc: BaseException) -> str:
    """The reason as the server or ESP gave it (stored and shown as is, like a bounce)."""
    import smtplib

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        parts = []
        for address, (code, message) in exc.recipients.items():
            text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
            parts.append(f"{address}: {code} {text}".strip())
        return "; ".join(parts) or str(exc)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        return f"{exc.smtp_code} {text}".strip()
    return str(exc).strip() or type(exc).__name__


@dataclass(frozen=True)
class SendOutcome:
    status: str
    retry_in: float | None = None  # seconds until the next try, after a temporary failure


def deliver_staff_reply(*, message_id: int) -> SendOutcome:
    """Send one stored answer, at most once as far as we can tell.

    The row is claimed by a conditional UPDATE (queued -> sending, attempts + 1), committed
    before the mail goes out: a redelivered or duplicate task finds it sending or sent and
    leaves it alone. After the send it is marked sent. A temporary failure puts it back to
    queued with the time of the next try (the task enqueues that), a permanent one, or the
    last temporary one, marks it failed with the reason.
    """
    now = timezone.now()
    claimed = Message.objects.filter(
        pk=message_id, direction=Message.Direction.OUTBOUND, send_status=Message.SendStatus.QUEUED
    ).update(send_status=Message.SendStatus.SENDING, send_status_at=now, send_attempts=F("send_attempts") + 1)
    answer = Message.objects.filter(pk=message_id).first()
    if answer is None:
        return SendOutcome("")
    if not claimed:
        return SendOutcome(answer.send_status)
    try:
        staff_reply_email(answer).send()
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the answer
        return _send_failed(answer, exc)
    # Whatever the sweeper did meanwhile (it thought this worker dead): the mail has left.
    Message.objects.filter(pk=answer.pk).update(
        send_status=Message.SendStatus.SENT,
        sent_at=timezone.now(),
        send_status_at=timezone.now(),
        send_error="",
    )
    return SendOutcome(Message.SendStatus.SENT)


def _send_failed(answer: Message, exc: BaseException) -> SendOutcome:
    reason = _send_error_text(exc)
    temporary = classify_send_error(exc)
    sending = Message.objects.filter(pk=answer.pk, send_status=Message.SendStatus.SENDING)
    if temporary and answer.send_attempts < STAFF_REPLY_MAX_ATTEMPTS:
        delay = STAFF_REPLY_RETRY_BASE_SECONDS * 4 ** (answer.send_attempts - 1)
        logger.warning("answer #%s: temporary failure, retry in %ss: %s", answer.pk, delay, reason)
        sending.update(
            send_status=Message.SendStatus.QUEUED,
            send_status_at=timezone.now() + timedelta(seconds=delay),
            send_error=reason,
        )
        return SendOutcome(Message.SendStatus.QUEUED, retry_in=delay)
    if temporary:
        reason = f"{reason} (gave up after {answer.send_attempts} attempts)"
    logger.warning("answer #%s could not be sent: %s", answer.pk, reason)
    with transaction.atomic():
        if sending.update(
            send_status=Message.SendStatus.FAILED, send_status_at=timezone.now(), send_error=reason
        ):
            _waiting_again(answer)
    return SendOutcome(Message.SendStatus.FAILED)


def _waiting_again(answer: Message) -> None:
    """A failed answer did not answer: the conversation waits again (from the subscriber's mail)."""
    last = _last_inbound(answer.conversation)
    if last is not None:
        Conversation.objects.filter(pk=answer.conversation_id, waiting_since__isnull=True).update(
            waiting_since=last.created_at
        )


def can_resend(user: AbstractBaseUser, answer: Message) -> bool:
    """The author of a failed answer, or a manager, may send it again."""
    from replies.selectors import can_see_all

    return answer.send_status == Message.SendStatus.FAILED and (
        answer.author_id == user.pk or can_see_all(user)
    )


def resend_staff_reply(*, answer: Message, actor: AbstractBaseUser) -> bool:
    """Queue a failed answer again (same Message-ID and reply token); False if it was not failed."""
    if not can_resend(actor, answer):
        return False
    now = timezone.now()
    with transaction.atomic():
        updated = Message.objects.filter(pk=answer.pk, send_status=Message.SendStatus.FAILED).update(
            send_status=Message.SendStatus.QUEUED, send_status_at=now, send_attempts=0, send_error=""
        )
        if updated:
            Conversation.objects.filter(pk=answer.conversation_id).update(waiting_since=None)
            _enqueue_staff_reply(answer.pk)
    answer.refresh_from_db()
    return bool(updated)


def requeue_stuck_staff_replies(*, older_than: timedelta | None = None) -> int:
    """The sweeper: answers queued or sending long after they were due lost their task or
    worker. Sending ones go back to queued (the mail may or may not have left: we retry,
    since an answer that never arrives is worse), up to STAFF_REPLY_MAX_ATTEMPTS claims, then
    failed; every stuck queued answer is enqueued again. Returns how many were enqueued."""
    cutoff = timezone.now() - (older_than if older_than is not None else STAFF_REPLY_STUCK_AFTER)
    stuck_sending = Message.objects.filter(
        direction=Message.Direction.OUTBOUND,
        send_status=Message.SendStatus.SENDING,
        send_status_at__lt=cutoff,
    )
    for answer in stuck_sending.filter(send_attempts__gte=STAFF_REPLY_MAX_ATTEMPTS).select_related(
        "conversation"
    ):
        reason = (
            f"Sending was started {answer.send_attempts} times without finishing (the worker probably died)."
        )
        with transaction.atomic():
            if Message.objects.filter(pk=answer.pk, send_status=Message.SendStatus.SENDING).update(
                send_status=Message.SendStatus.FAILED, send_status_at=timezone.now(), send_error=reason
            ):
                _waiting_again(answer)
    stuck_sending.update(send_status=Message.SendStatus.QUEUED)
    ids = list(
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND,
            send_status=Message.SendStatus.QUEUED,
            send_status_at__lt=cutoff,
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        _enqueue_staff_reply(pk)
    return len(ids)


def add_note(*, conversation: Conversation, author: AbstractBaseUser, text: str) -> ConversationEvent:
    text = text.strip()
    if not text:
        raise ValueError(_("The note is empty."))
    return ConversationEvent.objects.create(
        conversation=conversation, kind=ConversationEvent.Kind.NOTE, actor=author, text=text
    )


def reassign(
    *, conversation: Conversation, actor: AbstractBaseUser, assignee: AbstractBaseUser | None, note: str = ""
) -> ConversationEvent:
    from replies.tasks import notify_reassigned

    with transaction.atomic():
        reasons = [reason("reassigned", name=staff_display_name(actor))]
        with translation.override("en"):  # the text kept beside the codes
            text = render(reasons)
        Conversation.objects.filter(pk=conversation.pk).update(
            assignee=assignee, routing_rule="manual", routing_reasons=reasons, routing_reason=text
        )
        event = ConversationEvent.objects.create(
            conversation=conversation,
            kind=ConversationEvent.Kind.ASSIGNED,
            actor=actor,
            assignee=assignee,
            text=note.strip(),
        )
        if assignee is not None and assignee != actor:
            transaction.on_commit(lambda: notify_reassigned.delay(event.pk))
    conversation.refresh_from_db()
    return event


def close(*, conversation: Conversation, actor: AbstractBaseUser) -> None:
    _set_status(conversation, actor, Conversation.Status.CLOSED, ConversationEvent.Kind.CLOSED)


def reopen(*, conversation: Conversation, actor: AbstractBaseUser) -> None:
    _set_status(conversation, actor, Conversation.Status.OPEN, ConversationEvent.Kind.REOPENED)


def snooze(*, conversation: Conversation, actor: AbstractBaseUser, until: datetime) -> None:
    if until <= timezone.now():
        raise ValueError(_("Choose a time in the future."))
    _set_status(conversation, actor, Conversation.Status.SNOOZED, ConversationEvent.Kind.SNOOZED, until=until)


def _set_status(
    conversation: Conversation, actor: AbstractBaseUser, status: str, kind: str, until: datetime | None = None
) -> None:
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(status=status, snoozed_until=until)
        text = timezone.localtime(until).strftime("%Y-%m-%d %H:%M") if until else ""
        ConversationEvent.objects.create(conversation=conversation, kind=kind, actor=actor, text=text)
    conversation.refresh_from_db()


def erase_conversations(*, subscriber: object) -> int:
    """On erasure: the subscriber's conversations, their raw mails and attachments go too."""
    conversations = Conversation.objects.filter(subscriber=subscriber)
    inbound_ids = list(
        Message.objects.filter(conversation__in=conversations, inbound__isnull=False).values_list(
            "inbound_id", flat=True
        )
    )
    for message in Message.objects.filter(conversation__in=conversations).prefetch_related("attachments"):
        for attachment in message.attachments.all():
            attachment.file.delete(save=False)
    deleted, _counts = conversations.delete()
    InboundMessage.objects.filter(pk__in=inbound_ids).delete()
    return deleted


# --- Our automatic mail (RFC 3834: marked, never sent in answer to automatic mail) ----------


def _site_link(name: str, *args: object) -> str:
    return settings.SITE_URL + reverse(name, args=args)


def notify_assignee(*, message: Message) -> bool:
    """Tell the assignee a new reply is waiting, if they want mail about it."""
    conversation = message.conversation
    user = conversation.assignee
    if not wants_reply_notifications(user):
        return False
    context = {
        "name": staff_display_name(user),
        "message": message,
        "conversation": conversation,
        "url": _site_link("replies:conversation", conversation.pk),
    }
    EmailMessage(
        subject=_("New reply: %(subject)s") % {"subject": message.subject or conversation.subject},
        body=render_to_string("emails/replies/new_reply.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={"Auto-Submitted": "auto-generated"},
    ).send()
    return True


def notify_reassigned(*, event: ConversationEvent) -> bool:
    user = event.assignee
    if not wants_reply_notifications(user):
        return False
    context = {
        "name": staff_display_name(user),
        "actor": staff_display_name(event.actor) if event.actor else "",
        "event": event,
        "conversation": event.conversation,
        "url": _site_link("replies:conversation", event.conversation_id),
    }
    EmailMessage(
        subject=_("Assigned to you: %(subject)s") % {"subject": event.conversation.subject},
        body=render_to_string("emails/replies/reassigned.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={"Auto-Submitted": "auto-generated"},
    ).send()
    return True


def send_unsubscribe_confirmation(*, subscriber_id: int, inbound: InboundMessage | None) -> bool:
    """The short confirmation after an unsubscribe by reply, in the subscriber's language."""
    from subscribers.models import Subscriber

    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        return False
    headers = {"Auto-Submitted": "auto-replied"}
    if inbound is not None and inbound.message_id:
        headers["In-Reply-To"] = inbound.message_id
        headers["References"] = inbound.message_id
    with translation.override(subscriber.language):
        from subscribers.tokens import preferences_url

        EmailMessage(
            subject=_("You have been unsubscribed"),
            body=render_to_string(
                "emails/replies/unsubscribed.txt",
                {"subscriber": subscriber, "preferences_url": preferences_url(subscriber.pk)},
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[subscriber.email],
            headers=headers,
        ).send()
    return True
