"""The send loop: claim deliveries in the database, build, hand over, record each result at once.

Who sends a delivery is decided by a state transition in the database (queued → sending,
claimed with SELECT … FOR UPDATE SKIP LOCKED), so a batch that runs twice, or a recovered
one, sends nothing twice. Acceptances are committed before the backend can accept (SMTP:
before the final "."), with ``synchronous_commit = off`` on PostgreSQL: cheap, and it
survives a killed worker. Over SMTP one commit covers a round of mails, one per connection
(campaigns.smtp_transport); the chunk's acceptances are folded into its Delivery rows at the end.

On an ESP with inline merge fields (campaigns.esp_batch) and a batchable campaign
(campaigns.merge), a chunk goes out as one API call per language and format, its
acceptances committed together just before the call, like SMTP's before the final ".".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone, translation

from campaigns.batching import REFUSED, BatchEntry, BatchPlan, batch_plan
from campaigns.mailer import (
    ESPTransport,
    MessageFactory,
    OutgoingMail,
    PermanentSendError,
    Recipient,
    SendError,
    TransientSendError,
    Transport,
    transport_for_settings,
)
from campaigns.models import Acceptance, Campaign, Delivery
from campaigns.ratelimit import bucket_for
from campaigns.rendering import compile_campaign
from campaigns.smtp_transport import SMTPTransport
from subscribers.models import Subscriber, Suppression

logger = logging.getLogger(__name__)

# Rows claimed at a time: short enough that "sending" rows are never old (a second or two),
# large enough that the per-chunk queries (claim, recipients, fold) are spread over many mails.
CLAIM_CHUNK = 250
S = Delivery.Status


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retry_ids: list[int] = field(default_factory=list)
    retry_in: int = 0
    stopped: bool = False  # campaign paused or cancelled


def contact_name(campaign: Campaign) -> str:
    from replies.selectors import staff_display_name

    if campaign.contact_id:
        return staff_display_name(campaign.contact)
    return campaign.from_name


def build_factory(campaign: Campaign, *, subject_prefix: str = "") -> MessageFactory:
    topics = list(campaign.topics.order_by("pk"))
    compiled = compile_campaign(
        mjml_body=campaign.mjml_body,
        text_body=campaign.text_body,
        subject=campaign.subject,
        preheader=campaign.preheader,
        contact_name=contact_name(campaign),
        campaign_name=campaign.name,
    )
    first = topics[0] if topics else None
    return MessageFactory(
        compiled=compiled,
        campaign_id=campaign.pk,
        subject=campaign.subject,
        from_name=campaign.from_name,
        list_name=first.name if first else campaign.name,
        list_slug=first.slug if first else f"campaign-{campaign.pk}",
        topic_slugs=tuple(t.slug for t in topics),
        subject_prefix=subject_prefix,
    )


# One compiled factory per campaign per worker process; a changed campaign is recompiled.
_factories: dict[int, tuple[datetime, MessageFactory]] = {}


def factory_for(campaign: Campaign) -> MessageFactory:
    cached = _factories.get(campaign.pk)
    if cached and cached[0] == campaign.updated_at:
        return cached[1]
    factory = build_factory(campaign)
    _factories[campaign.pk] = (campaign.updated_at, factory)
    return factory


# The batch plan of each cached factory, per configured ESP (None: per-message sends).
_plans: dict[tuple[int, str], tuple[MessageFactory, BatchPlan | None]] = {}


def plan_for(campaign: Campaign, factory: MessageFactory, transport: Transport) -> BatchPlan | None:
    if not isinstance(transport, ESPTransport):
        return None
    key = (campaign.pk, settings.ANYMAIL_ESP)
    cached = _plans.get(key)
    if cached is None or cached[0] is not factory:
        cached = _plans[key] = (factory, batch_plan(factory, transport))
    return cached[1]


def backoff_seconds(attempts: int) -> int:
    return min(settings.SEND_RETRY_MAX_SECONDS, settings.SEND_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))


@contextmanager
def _cheap_commits() -> Iterator[None]:
    """Per-message commits without waiting for the WAL flush (PostgreSQL only).

    A killed worker loses nothing (the database has the commit); only a database crash
    could lose the last fraction of a second of state, which recovery then re-sends.
    """
    is_pg = connection.vendor == "postgresql"
    if is_pg:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        if is_pg:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")


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


def _recipients(claimed: list[int]) -> tuple[list[Recipient], list[int], dict[int, int]]:
    """Claimed rows → sendable recipients, plus the rows to skip (unsubscribed, suppressed, erased)."""
    rows = (
        Delivery.objects.filter(pk__in=claimed)
        .annotate(
            suppressed=Exists(Suppression.objects.filter(email_hash=OuterRef("subscriber__email_hash")))
        )
        .values(
            "pk",
            "message_id",
            "reply_token",
            "attempts",
            "subscriber_id",
            "subscriber__email",
            "subscriber__name",
            "subscriber__language",
            "subscriber__format",
            "subscriber__status",
            "suppressed",
        )
        .order_by("pk")
    )
    recipients, skip, attempts = [], [], {}
    for row in rows:
        attempts[row["pk"]] = row["attempts"]
        if (
            row["subscriber_id"] is None
            or row["subscriber__status"] != Subscriber.Status.CONFIRMED
            or row["suppressed"]
        ):
            skip.append(row["pk"])
            continue
        recipients.append(
            Recipient(
                delivery_id=row["pk"],
                message_id=row["message_id"],
                reply_token=row["reply_token"],
                subscriber_id=row["subscriber_id"],
                email=row["subscriber__email"],
                name=row["subscriber__name"],
                language=row["subscriber__language"],
                text_only=row["subscriber__format"] == Subscriber.Format.TEXT,
            )
        )
    return recipients, skip, attempts


def _mark(delivery_id: int, **fields) -> None:
    Delivery.objects.filter(pk=delivery_id).update(updated_at=timezone.now(), **fields)


def _campaign_status(campaign_id: int) -> str | None:
    return Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()


def send_deliveries(
    *, campaign_id: int, delivery_ids: Sequence[int], transport: Transport | None = None
) -> SendResult:
    """Send the given deliveries of a sending campaign; safe to run twice or concurrently."""
    result = SendResult()
    campaign = Campaign.objects.select_related("contact").filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Campaign.Status.SENDING:
        result.stopped = True
        return result
    factory = factory_for(campaign)
    transport = transport or transport_for_settings()
    bucket = bucket_for(transport.name)
    plan = plan_for(campaign, factory, transport)
    chunk = plan.max_recipients if plan else CLAIM_CHUNK  # a batch chunk is one API call per group
    ids = list(delivery_ids)
    try:
        with _cheap_commits():
            for start in range(0, len(ids), chunk):
                if start and _campaign_status(campaign_id) != Campaign.Status.SENDING:
                    result.stopped = True
                    break
                claimed = _claim(campaign_id, ids[start : start + chunk])
                if not claimed:
                    continue
                try:
                    with translation.override(settings.LANGUAGE_CODE):
                        if plan:
                            backend_down = _send_chunk_batched(plan, transport, bucket, claimed, result)
                        else:
                            backend_down = _send_chunk(factory, transport, bucket, claimed, result)
                finally:
                    fold_acceptances(claimed)
                if backend_down:
                    result.retry_ids += ids[start + chunk :]
                    return result
    finally:
        transport.close()
    finish_if_done(campaign_id)
    return result


def _send_chunk(
    factory: MessageFactory, transport: Transport, bucket, claimed: list[int], result: SendResult
) -> bool:
    """Send one claimed chunk; True if the backend is down and the rest was handed back."""
    recipients, skip, attempts = _recipients(claimed)
    _skip(skip, result)
    if isinstance(transport, SMTPTransport):
        return _send_rounds(factory, transport, bucket, recipients, attempts, result)
    return _send_each(factory, transport, bucket, recipients, attempts, result)


def _skip(skip: list[int], result: SendResult) -> None:
    if skip:
        Delivery.objects.filter(pk__in=skip).update(status=S.SKIPPED, updated_at=timezone.now())
        result.skipped += len(skip)


def _send_rounds(
    factory: MessageFactory,
    transport: SMTPTransport,
    bucket,
    recipients: list[Recipient],
    attempts: dict[int, int],
    result: SendResult,
) -> bool:
    """Rounds of one mail per SMTP connection, their acceptances committed together before the dots.

    True if the server is gone and the rest was handed back.
    """
    recipients.sort(key=lambda r: r.language)  # switch the active language once per group
    with contextlib.suppress(SendError):
        transport.open()  # sizes the rounds; a server that is down shows as the first round's errors
    position = 0
    while position < len(recipients):
        mails: list[OutgoingMail] = []
        while len(mails) < transport.round_size and position < len(recipients):
            recipient = recipients[position]
            position += 1
            if recipient.language != translation.get_language():
                translation.activate(recipient.language)
            try:
                mails.append(_build(factory, recipient))
            except PermanentSendError as exc:
                _record_failure(recipient.delivery_id, exc, attempts, result)
        if not mails:
            continue
        bucket.acquire(len(mails))
        errors = transport.send_round(
            mails, lambda accepted: record_acceptances([m.recipient.delivery_id for m in accepted])
        )
        failed = [
            (mail.recipient.delivery_id, error) for mail, error in zip(mails, errors, strict=True) if error
        ]
        _forget_acceptances([delivery_id for delivery_id, _error in failed])
        for delivery_id, error in failed:
            _record_failure(delivery_id, error, attempts, result)
        result.sent += len(mails) - len(failed)
        if any(error.connection_lost for _id, error in failed):
            # The server is gone: hand the rest back instead of failing each one.
            _hand_back([r.delivery_id for r in recipients[position:]], result)
            return True
    return False


def _send_each(
    factory: MessageFactory,
    transport: Transport,
    bucket,
    recipients: list[Recipient],
    attempts: dict[int, int],
    result: SendResult,
) -> bool:
    """One hand-over per recipient; True if the backend is down and the rest was handed back."""
    recipients.sort(key=lambda r: r.language)  # switch the active language once per group
    for index, recipient in enumerate(recipients):
        if recipient.language != translation.get_language():
            translation.activate(recipient.language)
        try:
            _send_one(factory, transport, bucket, recipient)
        except SendError as exc:
            _forget_acceptance(recipient.delivery_id)
            _record_failure(recipient.delivery_id, exc, attempts, result)
            if exc.connection_lost:
                # The backend is down: hand the rest back instead of failing each one.
                _hand_back([r.delivery_id for r in recipients[index + 1 :]], result)
                return True
        else:
            result.sent += 1
    return False


def _record_failure(delivery_id: int, error: SendError, attempts: dict[int, int], result: SendResult) -> None:
    """A transient error queues the delivery again (or fails it after the last attempt); others fail it."""
    if isinstance(error, TransientSendError):
        _retry_or_fail([delivery_id], attempts, error.reason, result)
    else:
        _mark(delivery_id, status=S.FAILED, error=error.reason)
        result.failed += 1


def _retry_or_fail(
    delivery_ids: list[int], attempts: dict[int, int], reason: str, result: SendResult
) -> None:
    """A transient failure: back to queued with a backoff, or failed after the last attempt."""
    for delivery_id in delivery_ids:
        if attempts[delivery_id] >= settings.SEND_MAX_ATTEMPTS:
            _mark(delivery_id, status=S.FAILED, error=reason)
            result.failed += 1
        else:
            _mark(delivery_id, status=S.QUEUED, error=reason)
            result.retry_ids.append(delivery_id)
            result.retry_in = max(result.retry_in, backoff_seconds(attempts[delivery_id]))


def _hand_back(delivery_ids: list[int], result: SendResult) -> None:
    Delivery.objects.filter(pk__in=delivery_ids, status=S.SENDING).update(status=S.QUEUED)
    result.retry_ids += delivery_ids


# --- ESP batch sends --------------------------------------------------------------------


def _send_chunk_batched(
    plan: BatchPlan, transport: ESPTransport, bucket, claimed: list[int], result: SendResult
) -> bool:
    """One API call per (language, format) group; the recipients a batch cannot carry go one by one."""
    recipients, skip, attempts = _recipients(claimed)
    _skip(skip, result)
    singles: list[Recipient] = []
    groups = _batch_groups(plan, recipients, singles)
    for index, (language, text_only, entries) in enumerate(groups):
        translation.activate(language)
        if _send_batch(plan, transport, bucket, entries, text_only, attempts, result, singles):
            rest = [e.recipient.delivery_id for _l, _t, later in groups[index + 1 :] for e in later]
            _hand_back(rest + [r.delivery_id for r in singles], result)
            return True
    return _send_each(plan.factory, transport, bucket, singles, attempts, result)


def _batch_groups(
    plan: BatchPlan, recipients: list[Recipient], singles: list[Recipient]
) -> list[tuple[str, bool, list[BatchEntry]]]:
    """Entries grouped by language and format (text-only mail has no HTML part); the rest → singles."""
    groups: dict[tuple[str, bool], list[BatchEntry]] = {}
    seen: set[str] = set()
    for recipient in sorted(recipients, key=lambda r: (r.language, r.text_only)):
        if recipient.language != translation.get_language():
            translation.activate(recipient.language)
        address = recipient.email.lower()
        entry = None if address in seen else plan.entry(recipient)  # merge data is keyed by address
        seen.add(address)
        if entry is None:
            singles.append(recipient)
        else:
            groups.setdefault((recipient.language, recipient.text_only), []).append(entry)
    return [(language, text_only, entries) for (language, text_only), entries in groups.items()]


def _send_batch(
    plan: BatchPlan,
    transport: ESPTransport,
    bucket,
    entries: list[BatchEntry],
    text_only: bool,
    attempts: dict[int, int],
    result: SendResult,
    singles: list[Recipient],
) -> bool:
    """One API call; True if the ESP is down (the caller hands the rest back)."""
    ids = [e.recipient.delivery_id for e in entries]
    message = plan.message(entries, text_only=text_only)
    bucket.acquire(len(entries))
    # Exactly-once, as for SMTP: the acceptances are committed BEFORE the call. A worker
    # killed during the call leaves the whole batch recorded as sent, so recovery never
    # sends it again: at most once, never a duplicate (the ESP may or may not have it).
    record_acceptances(ids)
    try:
        statuses = transport.send_batch(message)
    except TransientSendError as exc:
        # The call failed as a whole (or its answer was lost): nothing recorded, normal retry rules.
        _forget_acceptances(ids)
        _retry_or_fail(ids, attempts, exc.reason, result)
        return exc.connection_lost
    except PermanentSendError:
        # The ESP refused the call as a whole (e.g. one address it rejects fails all of
        # Mailgun's batch): nothing went out, so each recipient is tried on its own.
        _forget_acceptances(ids)
        singles.extend(e.recipient for e in entries)
        return False
    _apply_statuses(entries, statuses, result)
    return False


def _status_for(statuses: dict, email: str):
    return statuses.get(email) or next((s for e, s in statuses.items() if e.lower() == email.lower()), None)


def _apply_statuses(entries: list[BatchEntry], statuses: dict, result: SendResult) -> None:
    """Per-recipient refusals become failed deliveries; the ESP's ids go with the acceptances."""
    refused, esp_ids = [], {}
    for entry in entries:
        status = _status_for(statuses, entry.recipient.email)
        if status is not None and status.status in REFUSED:
            refused.append(entry.recipient.delivery_id)
            _mark(entry.recipient.delivery_id, status=S.FAILED, error=f"{status.status} by the ESP")
        elif status is not None and status.message_id is not None:
            esp_ids[entry.recipient.delivery_id] = str(status.message_id)
    _forget_acceptances(refused)
    if esp_ids:
        Acceptance.objects.bulk_update(
            [Acceptance(delivery_id=pk, esp_message_id=esp_id) for pk, esp_id in esp_ids.items()],
            ["esp_message_id"],
        )
    result.failed += len(refused)
    result.sent += len(entries) - len(refused)


_INSERT_ACCEPTANCE = (
    f"INSERT INTO {Acceptance._meta.db_table} (delivery_id, esp_message_id, accepted_at) VALUES (%s, %s, %s)"
)


def record_acceptance(delivery_id: int, esp_message_id: str = "") -> None:
    """One narrow INSERT, committed at once (autocommit, synchronous_commit off)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_ACCEPTANCE,
            [delivery_id, esp_message_id, connection.ops.adapt_datetimefield_value(timezone.now())],
        )


def record_acceptances(delivery_ids: Sequence[int]) -> None:
    """A round of SMTP mails, or an ESP batch, in one INSERT committed at once (autocommit)."""
    if not delivery_ids:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {Acceptance._meta.db_table} (delivery_id, esp_message_id, accepted_at) "
                "SELECT unnest(%s::bigint[]), '', %s",
                [list(delivery_ids), now],
            )
        else:
            rows = ", ".join(["(%s, '', %s)"] * len(delivery_ids))
            cursor.execute(
                f"INSERT INTO {Acceptance._meta.db_table} (delivery_id, esp_message_id, accepted_at) "
                f"VALUES {rows}",
                [value for pk in delivery_ids for value in (pk, now)],
            )


def _forget_acceptance(delivery_id: int) -> None:
    """SMTP records acceptance before the final "."; a refusal after it takes that back."""
    Acceptance.objects.filter(delivery_id=delivery_id).delete()


def _forget_acceptances(delivery_ids: Sequence[int]) -> None:
    if delivery_ids:
        Acceptance.objects.filter(delivery_id__in=delivery_ids).delete()


def fold_acceptances(delivery_ids: Sequence[int]) -> int:
    """Recorded acceptances → Delivery rows marked sent, in one statement per chunk."""
    accepted = list(
        Acceptance.objects.filter(delivery_id__in=delivery_ids).values_list(
            "delivery_id", "esp_message_id", "accepted_at"
        )
    )
    if not accepted:
        return 0
    accepted_ids = [delivery_id for delivery_id, _esp, _at in accepted]
    now = timezone.now()
    with transaction.atomic():
        if any(esp for _id, esp, _at in accepted):
            Delivery.objects.bulk_update(
                [
                    Delivery(pk=pk, status=S.SENT, sent_at=at, esp_message_id=esp, error="", updated_at=now)
                    for pk, esp, at in accepted
                ],
                ["status", "sent_at", "esp_message_id", "error", "updated_at"],
            )
        else:
            Delivery.objects.filter(pk__in=accepted_ids).update(
                status=S.SENT, sent_at=max(at for _id, _esp, at in accepted), error="", updated_at=now
            )
        Acceptance.objects.filter(delivery_id__in=accepted_ids).delete()
    return len(accepted)


def _build(factory: MessageFactory, recipient: Recipient) -> OutgoingMail:
    try:
        return factory.build(recipient)
    except Exception as exc:  # a template filter failing for this one recipient's data
        logger.exception("Could not build delivery %s", recipient.delivery_id)
        raise PermanentSendError(f"could not build the message: {exc}") from exc


def _send_one(factory: MessageFactory, transport: Transport, bucket, recipient: Recipient) -> None:
    mail = _build(factory, recipient)
    bucket.acquire(1)
    transport.send(mail, lambda esp_message_id: record_acceptance(recipient.delivery_id, esp_message_id))


def finish_if_done(campaign_id: int) -> bool:
    """A sending campaign whose rows are all created and none is queued or sending is sent."""
    pending = Delivery.objects.filter(campaign_id=OuterRef("pk"), status__in=[S.QUEUED, S.SENDING])
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING, queued_all_at__isnull=False)
        .exclude(Exists(pending))
        .update(status=Campaign.Status.SENT, finished_at=timezone.now())
    )
