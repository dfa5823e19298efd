"""The send loop: claim deliveries in the database, build, hand over, record each result at once.

Who sends a delivery is decided by a claim in the database, so a batch that runs twice, or a
recovered one, sends nothing twice. On PostgreSQL the claim is a row lock (SELECT … FOR NO
KEY UPDATE SKIP LOCKED) held by the chunk's transaction until its fold, so each mail costs one
Delivery row update, its final state; elsewhere it is a committed queued → sending update.
Acceptances are committed before the backend can accept (campaigns.sending.ledger), on a
connection of their own. Over SMTP one commit covers a round of mails, one per connection
(rundbrief.mail.transports.smtp); the chunk's acceptances are folded into its Delivery rows
at the end.

On an ESP with inline merge fields and a batchable campaign (campaigns.merge), a chunk goes
out as one API call per language and format (campaigns.sending.batches).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone, translation

from campaigns.messages import MessageFactory, Recipient, factory_for
from campaigns.models import Acceptance, Campaign, Delivery
from campaigns.ratelimit import bucket_for
from campaigns.sending import ledger
from campaigns.sending.batches import BatchPlan, plan_for, send_chunk_batched
from campaigns.sending.run import SendResult, SendRun
from rundbrief.events import emit
from rundbrief.mail.refusals import PermanentSendError, SendError
from rundbrief.mail.transports import transport_for_settings
from rundbrief.mail.transports.base import OutgoingMail, Transport
from rundbrief.mail.transports.smtp import SMTPTransport
from subscribers.models import Subscriber, Suppression

logger = logging.getLogger(__name__)

# Rows claimed at a time: short enough that a chunk's locks are held a second or two at most,
# large enough that the per-chunk queries (claim, fold) are spread over many mails.
CLAIM_CHUNK = 500
S = Delivery.Status


def send_deliveries(
    *, campaign_id: int, delivery_ids: Sequence[int], transport: Transport | None = None
) -> SendResult:
    """Send the given deliveries of a sending campaign; safe to run twice or concurrently."""
    campaign = Campaign.objects.select_related("contact").filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Campaign.Status.SENDING:
        return SendResult(stopped=True)
    transport = transport or transport_for_settings()
    run = SendRun(
        campaign_id=campaign_id,
        factory=factory_for(campaign),
        transport=transport,
        bucket=bucket_for(transport.name),
        held=connection.vendor == "postgresql",
    )
    plan = plan_for(campaign_id, run.factory, transport)
    chunk = plan.max_recipients if plan else CLAIM_CHUNK  # a batch chunk is one API call per group
    ids = list(delivery_ids)
    try:
        with ledger.cheap_commits(), ledger.ledger() as book:
            run.ledger = book
            for start in range(0, len(ids), chunk):
                if start and _campaign_status(campaign_id) != Campaign.Status.SENDING:
                    run.result.stopped = True
                    break
                chunk_ids = ids[start : start + chunk]
                if run.held:
                    backend_down = _send_held_chunk(run, plan, chunk_ids)
                else:
                    backend_down = _send_claimed_chunk(run, plan, chunk_ids)
                if backend_down:
                    run.result.retry_ids += ids[start + chunk :]
                    return run.result
    finally:
        transport.close()
    finish_if_done(campaign_id)
    return run.result


def _send_held_chunk(run: SendRun, plan: BatchPlan | None, ids: Sequence[int]) -> bool:
    """PostgreSQL: the chunk is one transaction holding its rows' locks; one row update per mail.

    The rows stay "queued" while locked (no row version for the claim); the fold writes each
    one's final state when the chunk is done. A worker killed meanwhile loses the lock with
    its connection: the rows are queued again, and its committed acceptances (on the
    ledger's own connection) keep them from being claimed until recovery folds them.
    """
    with transaction.atomic():
        rows = _hold(run.campaign_id, ids)
        if not rows:
            return False
        run.new_chunk()
        with translation.override(settings.LANGUAGE_CODE):
            backend_down = _send_chunk(run, plan, run.recipients_of(rows))
        # Not in a finally: after an error the transaction is rolled back, the rows are queued
        # again, and their acceptances wait for recovery (a claim never takes an accepted row).
        ledger.fold_held([row[0] for row in rows])
    return backend_down


def _send_claimed_chunk(run: SendRun, plan: BatchPlan | None, ids: Sequence[int]) -> bool:
    """Other databases: claimed as "sending" (committed), folded at the end."""
    claimed = _claim(run.campaign_id, ids)
    if not claimed:
        return False
    run.new_chunk()
    try:
        with translation.override(settings.LANGUAGE_CODE):
            return _send_chunk(run, plan, run.recipients(claimed))
    finally:
        ledger.fold_acceptances(claimed)


def _send_chunk(run: SendRun, plan: BatchPlan | None, recipients: list[Recipient]) -> bool:
    """True if the backend is down (the rest of the chunk was handed back)."""
    if plan:
        batched = send_chunk_batched(run, plan, recipients)
        return batched.backend_down or _send_each(run, batched.singles)
    if isinstance(run.transport, SMTPTransport):
        return _send_rounds(run, run.transport, recipients)
    return _send_each(run, recipients)


def _campaign_status(campaign_id: int) -> str | None:
    return Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()


# The claim and the recipients in one statement. FOR NO KEY UPDATE: it conflicts with another
# claim (SKIP LOCKED) but not with the FOR KEY SHARE of the acceptance INSERT's foreign key
# check on the ledger's connection.
_HOLD = f"""
    SELECT d.id, d.message_id, d.reply_token, d.attempts, d.subscriber_id,
           s.email, s.name, s.language, s.format, s.status,
           EXISTS (SELECT 1 FROM {Suppression._meta.db_table} sup WHERE sup.email_hash = s.email_hash),
           d.variant
    FROM {Delivery._meta.db_table} d
    LEFT JOIN {Subscriber._meta.db_table} s ON s.id = d.subscriber_id
    WHERE d.id = ANY(%(ids)s::bigint[]) AND d.campaign_id = %(campaign)s AND d.status = 'queued'
      AND NOT EXISTS (SELECT 1 FROM {Acceptance._meta.db_table} a WHERE a.delivery_id = d.id)
    ORDER BY d.id
    FOR NO KEY UPDATE OF d SKIP LOCKED
"""
_ACCEPTED = f"SELECT delivery_id FROM {Acceptance._meta.db_table} WHERE delivery_id = ANY(%s::bigint[])"


def _hold(campaign_id: int, ids: Sequence[int]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_HOLD, {"ids": list(ids), "campaign": campaign_id})
        rows = cursor.fetchall()
        if not rows:
            return rows
        # A row whose lock was released by a killed worker after this statement's snapshot
        # began may have an acceptance the NOT EXISTS could not see; now that it is locked,
        # a fresh look sees every acceptance committed before (those rows are recovery's).
        cursor.execute(_ACCEPTED, [[row[0] for row in rows]])
        accepted = {row[0] for row in cursor.fetchall()}
    return [row for row in rows if row[0] not in accepted] if accepted else rows


def _claim(campaign_id: int, ids: Sequence[int]) -> list[int]:
    with transaction.atomic():
        claimed = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, campaign_id=campaign_id, status=S.QUEUED)
            .values_list("pk", flat=True)
        )
        if claimed:
            Delivery.objects.filter(pk__in=claimed).update(
                status=S.SENDING, attempts=F("attempts") + 1, updated_at=timezone.now()
            )
    return claimed


def _send_rounds(run: SendRun, transport: SMTPTransport, recipients: list[Recipient]) -> bool:
    """Rounds of one mail per SMTP connection, their acceptances committed together before the dots.

    True if the server is gone and the rest was handed back.
    """
    recipients.sort(key=lambda r: r.language)  # switch the active language once per group
    with contextlib.suppress(SendError):
        transport.open()  # sizes the rounds; a server that is down shows as the first round's errors
    position = 0
    while position < len(recipients):
        mails: list[OutgoingMail] = []
        ids: list[int] = []
        while len(mails) < transport.round_size and position < len(recipients):
            recipient = recipients[position]
            position += 1
            if recipient.language != translation.get_language():
                translation.activate(recipient.language)
            try:
                mails.append(_build(run.factory, recipient))
            except PermanentSendError as exc:
                run.refused(recipient.delivery_id, exc)
            else:
                ids.append(recipient.delivery_id)
        if not mails:
            continue
        run.bucket.acquire(len(mails))
        errors = transport.send_round(
            mails, lambda positions, ids=ids: run.accepted([ids[i] for i in positions])
        )
        failed = [(delivery_id, error) for delivery_id, error in zip(ids, errors, strict=True) if error]
        run.forget([delivery_id for delivery_id, _error in failed])
        for delivery_id, error in failed:
            run.refused(delivery_id, error)
        run.sent(len(mails) - len(failed))
        if any(error.connection_lost for _id, error in failed):
            # The server is gone: hand the rest back instead of failing each one.
            run.hand_back([r.delivery_id for r in recipients[position:]])
            return True
    return False


def _send_each(run: SendRun, recipients: list[Recipient]) -> bool:
    """One hand-over per recipient; True if the backend is down and the rest was handed back."""
    recipients.sort(key=lambda r: r.language)  # switch the active language once per group
    for index, recipient in enumerate(recipients):
        if recipient.language != translation.get_language():
            translation.activate(recipient.language)
        try:
            mail = _build(run.factory, recipient)
            run.bucket.acquire(1)
            run.transport.send(
                mail,
                lambda esp_message_id, delivery_id=recipient.delivery_id: run.accepted(
                    [delivery_id], esp_message_id
                ),
            )
        except SendError as exc:
            run.forget([recipient.delivery_id])
            run.refused(recipient.delivery_id, exc)
            if exc.connection_lost:
                # The backend is down: hand the rest back instead of failing each one.
                run.hand_back([r.delivery_id for r in recipients[index + 1 :]])
                return True
        else:
            run.sent(1)
    return False


def _build(factory: MessageFactory, recipient: Recipient) -> OutgoingMail:
    try:
        return factory.build(recipient)
    except Exception as exc:  # a template filter failing for this one recipient's data
        logger.exception("Could not build delivery %s", recipient.delivery_id)
        raise PermanentSendError(f"could not build the message: {exc}") from exc


def finish_if_done(campaign_id: int) -> bool:
    """A sending campaign whose rows are all created and none is queued or sending is sent."""
    pending = Delivery.objects.filter(campaign_id=OuterRef("pk"), status__in=[S.QUEUED, S.SENDING])
    finished = bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING, queued_all_at__isnull=False)
        .exclude(Exists(pending))
        .update(status=Campaign.Status.SENT, finished_at=timezone.now())
    )
    if finished:
        emit("campaign.sent", campaign_id=campaign_id)
    return finished
