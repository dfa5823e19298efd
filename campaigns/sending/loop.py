"""The send loop: claim deliveries in the database, build, hand over, record each result at once.

Who sends a delivery is decided by a state transition in the database (queued → sending,
claimed with SELECT … FOR UPDATE SKIP LOCKED), so a batch that runs twice, or a recovered
one, sends nothing twice. Acceptances are committed before the backend can accept
(campaigns.sending.ledger). Over SMTP one commit covers a round of mails, one per connection
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
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone, translation

from campaigns.messages import MessageFactory, Recipient, factory_for
from campaigns.models import Campaign, Delivery
from campaigns.ratelimit import bucket_for
from campaigns.sending import ledger
from campaigns.sending.batches import plan_for, send_chunk_batched
from campaigns.sending.run import SendResult, SendRun
from rundbrief.events import emit
from rundbrief.mail.refusals import PermanentSendError, SendError
from rundbrief.mail.transports import transport_for_settings
from rundbrief.mail.transports.base import OutgoingMail, Transport
from rundbrief.mail.transports.smtp import SMTPTransport

logger = logging.getLogger(__name__)

# Rows claimed at a time: short enough that "sending" rows are never old (a second or two),
# large enough that the per-chunk queries (claim, recipients, fold) are spread over many mails.
CLAIM_CHUNK = 250
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
    )
    plan = plan_for(campaign_id, run.factory, transport)
    chunk = plan.max_recipients if plan else CLAIM_CHUNK  # a batch chunk is one API call per group
    ids = list(delivery_ids)
    try:
        with ledger.cheap_commits():
            for start in range(0, len(ids), chunk):
                if start and _campaign_status(campaign_id) != Campaign.Status.SENDING:
                    run.result.stopped = True
                    break
                claimed = _claim(campaign_id, ids[start : start + chunk])
                if not claimed:
                    continue
                try:
                    with translation.override(settings.LANGUAGE_CODE):
                        recipients = run.recipients(claimed)
                        if plan:
                            batched = send_chunk_batched(run, plan, recipients)
                            backend_down = batched.backend_down or _send_each(run, batched.singles)
                        elif isinstance(transport, SMTPTransport):
                            backend_down = _send_rounds(run, transport, recipients)
                        else:
                            backend_down = _send_each(run, recipients)
                finally:
                    ledger.fold_acceptances(claimed)
                if backend_down:
                    run.result.retry_ids += ids[start + chunk :]
                    return run.result
    finally:
        transport.close()
    finish_if_done(campaign_id)
    return run.result


def _campaign_status(campaign_id: int) -> str | None:
    return Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()


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
            mails, lambda accepted, ids=ids: ledger.record_acceptances([ids[index] for index in accepted])
        )
        failed = [(delivery_id, error) for delivery_id, error in zip(ids, errors, strict=True) if error]
        ledger.forget_acceptances([delivery_id for delivery_id, _error in failed])
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
                lambda esp_message_id, delivery_id=recipient.delivery_id: ledger.record_acceptance(
                    delivery_id, esp_message_id
                ),
            )
        except SendError as exc:
            ledger.forget_acceptances([recipient.delivery_id])
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
