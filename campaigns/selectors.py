"""Reads for campaigns: the audience (keyset-paged, counted with reasons) and the stats.

The audience is computed in the database, never as a list in memory: confirmed subscribers
with an active subscription to any of the campaign's topics, minus the suppressed, those who
already have a delivery of this campaign, the paused, and those over their frequency cap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from subscribers.models import ConsentEvent, Subscriber, Subscription, Suppression

FREQUENCY_WINDOWS = {
    Subscriber.Frequency.PER_WEEK: timedelta(days=7),
    Subscriber.Frequency.PER_MONTH: timedelta(days=30),
}
# Exclusion reasons, in the order they are attributed (a subscriber counts for the first that applies).
EXCLUSION_REASONS = ("suppressed", "already_delivered", "paused", "frequency_cap")


@dataclass(frozen=True)
class AudienceCount:
    candidates: int  # confirmed subscribers of the campaign's topics
    recipients: int  # what a launch would send to now
    excluded: dict[str, int]


def _sent_in_window(window: timedelta, now) -> Subquery:
    recent = (
        Delivery.objects.filter(subscriber=OuterRef("pk"), sent_at__gte=now - window)
        .order_by()
        .values("subscriber")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(recent, output_field=IntegerField()), Value(0))


def _candidates(topic_ids: list[int]) -> QuerySet[Subscriber]:
    active = Subscription.objects.filter(
        subscriber=OuterRef("pk"), topic_id__in=topic_ids, status=Subscription.Status.ACTIVE
    )
    return Subscriber.objects.filter(Exists(active), status=Subscriber.Status.CONFIRMED)


def _with_exclusions(qs: QuerySet[Subscriber], campaign_id: int) -> QuerySet[Subscriber]:
    now = timezone.now()
    return qs.annotate(
        x_suppressed=Exists(Suppression.objects.filter(email_hash=OuterRef("email_hash"))),
        x_already_delivered=Exists(
            Delivery.objects.filter(campaign_id=campaign_id, subscriber=OuterRef("pk"))
        ),
        # Only the capped subscribers pay for counting their recent deliveries.
        x_sent_recently=Case(
            *(
                When(frequency=freq, then=_sent_in_window(window, now))
                for freq, window in FREQUENCY_WINDOWS.items()
            ),
            default=Value(0),
            output_field=IntegerField(),
        ),
    )


def _paused() -> Q:
    return Q(paused_until__gte=timezone.localdate())


def _sendable_filter() -> Q:
    return (
        Q(x_suppressed=False, x_already_delivered=False, x_sent_recently__lt=F("frequency_limit"))
        & ~_paused()
    )


def _topic_ids(campaign: Campaign) -> list[int]:
    return list(campaign.topics.values_list("pk", flat=True))


def sendable_subscribers(campaign: Campaign) -> QuerySet[Subscriber]:
    """The campaign's current recipients as a lazy queryset (page it; never list it)."""
    qs = _with_exclusions(_candidates(_topic_ids(campaign)), campaign.pk)
    return qs.filter(_sendable_filter())


def audience_pages(campaign: Campaign, *, page_size: int) -> Iterator[list[tuple[int, str]]]:
    """(subscriber id, email hash) pages, keyset-paged by id: WHERE id > last ORDER BY id LIMIT n."""
    base = sendable_subscribers(campaign)
    last_id = 0
    while True:
        page = list(base.filter(pk__gt=last_id).order_by("pk").values_list("pk", "email_hash")[:page_size])
        if not page:
            return
        yield page
        last_id = page[-1][0]


def count_audience(campaign: Campaign) -> AudienceCount:
    """One pass over the candidates; each excluded subscriber is counted for its first reason."""
    qs = _with_exclusions(_candidates(_topic_ids(campaign)), campaign.pk)
    over_cap = Q(x_sent_recently__gte=F("frequency_limit"))
    first_reason = {
        "suppressed": Q(x_suppressed=True),
        "already_delivered": Q(x_suppressed=False, x_already_delivered=True),
        "paused": Q(x_suppressed=False, x_already_delivered=False) & _paused(),
        "frequency_cap": Q(x_suppressed=False, x_already_delivered=False) & ~_paused() & over_cap,
    }
    totals = qs.aggregate(
        candidates=Count("pk"),
        **{reason: Count("pk", filter=condition) for reason, condition in first_reason.items()},
    )
    excluded = {reason: totals[reason] for reason in EXCLUSION_REASONS}
    return AudienceCount(
        candidates=totals["candidates"],
        recipients=totals["candidates"] - sum(excluded.values()),
        excluded=excluded,
    )


@dataclass(frozen=True)
class CampaignStats:
    audience: int
    queued: int
    sending: int
    sent: int
    failed: int
    bounced: int
    complained: int
    soft_bounces: int
    unsubscribes: int
    replies: int

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.bounced + self.complained

    @property
    def progress_percent(self) -> int:
        return round(100 * self.done / self.audience) if self.audience else 0

    @property
    def delivered(self) -> int:
        """Mails that left us (bounces and complaints were sent first)."""
        return self.sent + self.bounced + self.complained

    @property
    def reply_rate_percent(self) -> float:
        return round(100 * self.replies / self.delivered, 1) if self.delivered else 0.0

    def as_dict(self) -> dict:
        return {
            "audience": self.audience,
            "queued": self.queued,
            "sending": self.sending,
            "sent": self.sent,
            "failed": self.failed,
            "bounced": self.bounced,
            "complained": self.complained,
            "soft_bounces": self.soft_bounces,
            "unsubscribes": self.unsubscribes,
            "replies": self.replies,
            "reply_rate_percent": self.reply_rate_percent,
            "progress_percent": self.progress_percent,
        }


def campaign_stats(campaign: Campaign) -> CampaignStats:
    from replies.selectors import replies_received_for_campaign

    S = Delivery.Status
    counts = Delivery.objects.filter(campaign=campaign).aggregate(
        audience=Count("pk"),
        soft_bounces=Coalesce(Sum("soft_bounces"), 0),
        **{status.value: Count("pk", filter=Q(status=status)) for status in S},
    )
    unsubscribes = ConsentEvent.objects.filter(
        kind=ConsentEvent.Kind.UNSUBSCRIBED, details__campaign_id=campaign.pk
    ).count()
    return CampaignStats(
        audience=counts["audience"],
        queued=counts[S.QUEUED],
        sending=counts[S.SENDING],
        sent=counts[S.SENT],
        failed=counts[S.FAILED],
        bounced=counts[S.BOUNCED],
        complained=counts[S.COMPLAINED],
        soft_bounces=counts["soft_bounces"],
        unsubscribes=unsubscribes,
        replies=replies_received_for_campaign(campaign.pk),
    )


def failed_deliveries(campaign: Campaign, *, limit: int = 50) -> QuerySet[Delivery]:
    """The most recent permanent failures with their reason, for the detail page."""
    return (
        Delivery.objects.filter(campaign=campaign, status=Delivery.Status.FAILED)
        .select_related("subscriber")
        .order_by("-updated_at")[:limit]
    )
