"""One send task's state (SendRun), threaded through the loop, and how each outcome is recorded.

A SendRun is made per task: the campaign's message factory, the transport, the rate-limit
bucket, the attempts of the rows claimed, and the tally (SendResult) the task reports.
Every refusal, retry, skip and hand-back goes through its methods, so the rules for them
(rundbrief.mail.refusals: retry_delay, may_retry) are applied in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns.messages import MessageFactory, Recipient
from campaigns.models import Delivery
from campaigns.ratelimit import TokenBucket
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
    result: SendResult = field(default_factory=SendResult)
    attempts: dict[int, int] = field(default_factory=dict)  # delivery id -> attempts, this one included

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
        _mark(delivery_id, status=S.FAILED, error=reason)
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
                _mark(delivery_id, status=S.QUEUED, error=reason)
                self.result.retry_ids.append(delivery_id)
                self.result.retry_in = max(self.result.retry_in, retry_delay(attempts))

    def hand_back(self, delivery_ids: Sequence[int]) -> None:
        """The backend is down: rows not tried yet go back to queued, for the task's retry."""
        Delivery.objects.filter(pk__in=delivery_ids, status=S.SENDING).update(status=S.QUEUED)
        self.result.retry_ids += delivery_ids


def _mark(delivery_id: int, **fields) -> None:
    Delivery.objects.filter(pk=delivery_id).update(updated_at=timezone.now(), **fields)
