"""One send task's state (SendRun), threaded through the loop, and how each outcome is recorded.

A SendRun is made per task: the campaign's message factory, the transport, the rate-limit
bucket, the attempts of the rows claimed, and the tally (SendResult) the task reports.
Every refusal, retry, skip and hand-back goes through its methods, so the rules for them
(rundbrief.mail.refusals: retry_delay, may_retry) are applied in one place.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from campaigns.messages import MessageFactory, Recipient
from campaigns.models import Delivery
from campaigns.ratelimit import TokenBucket
from campaigns.sending.ledger import Ledger
from rundbrief.mail.refusals import SendError, TransientSendError, may_retry, retry_delay
from rundbrief.mail.transports.base import Transport
from subscribers.models import Subscriber, Suppression

S = Delivery.Status


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retry_ids: list[int] = field(default_factory=list)
    retry_in: int = 0
    stopped: bool = False  # campaign paused or cancelled


@dataclass
class SendRun:
    campaign_id: int
    factory: MessageFactory
    transport: Transport
    bucket: TokenBucket
    ledger: Ledger = field(default_factory=Ledger)
    # True: the chunk's rows are claimed by a row lock held until the fold (PostgreSQL), so they
    # stay "queued" and each outcome counts the attempt; False: claimed as "sending" (counted then).
    held: bool = False
    result: SendResult = field(default_factory=SendResult)
    attempts: dict[int, int] = field(default_factory=dict)  # delivery id -> attempts, this one included
    chunk: int = 0  # names the chunk's acceptances, with the round (campaigns.sending.ledger)
    round: int = 0

    def new_chunk(self) -> None:
        self.chunk, self.round = secrets.randbits(62) + 1, 0

    def accepted(self, delivery_ids: Sequence[int], esp_message_id: str = "") -> None:
        """Commit the acceptances of the next round, before the backend can accept them."""
        self.round += 1
        self.ledger.record(delivery_ids, chunk=self.chunk, round=self.round, esp_message_id=esp_message_id)

    def forget(self, delivery_ids: Sequence[int]) -> None:
        self.ledger.forget(delivery_ids)

    def recipients_of(self, rows: Sequence[tuple]) -> list[Recipient]:
        """Locked rows (campaigns.sending.loop._hold: id, Message-ID, reply token, attempts,
        subscriber id, email, name, language, format, status, suppressed, variant) → sendable recipients;
        the others (unsubscribed, suppressed, erased) are skipped."""
        recipients, skip = [], []
        for (
            pk,
            message_id,
            reply_token,
            attempts,
            subscriber_id,
            email,
            name,
            language,
            fmt,
            status,
            suppressed,
            variant,
        ) in rows:
            self.attempts[pk] = attempts + 1
            if subscriber_id is None or status != Subscriber.Status.CONFIRMED or suppressed:
                skip.append(pk)
                continue
            recipients.append(
                Recipient(
                    delivery_id=pk,
                    message_id=message_id,
                    reply_token=reply_token,
                    subscriber_id=subscriber_id,
                    email=email,
                    name=name,
                    language=language,
                    text_only=fmt == Subscriber.Format.TEXT,
                    variant=variant,
                )
            )
        self.skip(skip)
        return recipients

    def recipients(self, claimed: Sequence[int]) -> list[Recipient]:
        """Claimed rows → sendable recipients; the others (unsubscribed, suppressed, erased) are skipped."""
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
                "variant",
            )
            .order_by("pk")
        )
        recipients, skip = [], []
        for row in rows:
            self.attempts[row["pk"]] = row["attempts"]
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
                    variant=row["variant"],
                )
            )
        self.skip(skip)
        return recipients

    def skip(self, delivery_ids: Sequence[int]) -> None:
        if delivery_ids:
            Delivery.objects.filter(pk__in=delivery_ids).update(status=S.SKIPPED, updated_at=timezone.now())
            self.result.skipped += len(delivery_ids)

    def sent(self, count: int) -> None:
        self.result.sent += count

    def fail(self, delivery_id: int, reason: str) -> None:
        self._mark(delivery_id, status=S.FAILED, error=reason)
        self.result.failed += 1

    def refused(self, delivery_id: int, error: SendError) -> None:
        """A temporary refusal queues it again (or fails it after the last attempt); others fail it."""
        if isinstance(error, TransientSendError):
            self.retry_or_fail([delivery_id], error.reason)
        else:
            self.fail(delivery_id, error.reason)

    def retry_or_fail(self, delivery_ids: Sequence[int], reason: str) -> None:
        """A temporary failure: back to queued with a backoff, or failed after the last attempt."""
        for delivery_id in delivery_ids:
            attempts = self.attempts[delivery_id]
            if not may_retry(attempts):
                self.fail(delivery_id, reason)
            else:
                self._mark(delivery_id, status=S.QUEUED, error=reason)
                self.result.retry_ids.append(delivery_id)
                self.result.retry_in = max(self.result.retry_in, retry_delay(attempts))

    def hand_back(self, delivery_ids: Sequence[int]) -> None:
        """The backend is down: rows not tried yet go back to queued, for the task's retry."""
        if not self.held:  # held rows are still queued: the lock ends with the chunk
            Delivery.objects.filter(pk__in=delivery_ids, status=S.SENDING).update(status=S.QUEUED)
        self.result.retry_ids += delivery_ids

    def _mark(self, delivery_id: int, **fields) -> None:
        if self.held:
            fields["attempts"] = F("attempts") + 1
        Delivery.objects.filter(pk=delivery_id).update(updated_at=timezone.now(), **fields)
