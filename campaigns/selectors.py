"""Reads for campaigns: the audience (keyset-paged, counted with reasons) and the stats.

The audience is computed in the database, never as a list in memory: confirmed subscribers
with an active subscription to any of the campaign's topics (narrowed to its segment's, if it
has one), minus the suppressed, those who
already have a delivery of this campaign, the paused, and those over their frequency cap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import (
    Count,
    Exists,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce, TruncDay, TruncHour
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audience.filters import AudienceFilter, subscribers_matching
from campaigns import testmail
from campaigns.models import Acceptance, Campaign, Delivery
from campaigns.sampling import A, B, Sample
from campaigns.versions import language_name, languages, served_by
from replies.interface import (
    InboundMessage,
    Message,
    campaign_repliers_by_language,
    campaign_replies,
    campaign_replies_over_time,
)
from rundbrief.charts import Chart
from subscribers.models import Bounce, ConsentEvent, Subscriber, Subscription, Suppression

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


# The audience in SQL: the ORM's correlated EXISTS annotations were re-evaluated per FILTER
# and planned badly (1 s for 20,000 rows); LEFT JOINs let PostgreSQL hash-join instead.
# Table names come from the models; only integers and dates are passed as parameters.
_SUBSCRIBER = Subscriber._meta.db_table
_SUBSCRIPTION = Subscription._meta.db_table
_SUPPRESSION = Suppression._meta.db_table
_DELIVERY = Delivery._meta.db_table

_CANDIDATES = f"""
    FROM {_SUBSCRIBER} s
    WHERE s.status = 'confirmed'
      AND EXISTS (SELECT 1 FROM {_SUBSCRIPTION} sub
                  WHERE sub.subscriber_id = s.id AND sub.status = 'active' AND sub.topic_id IN ({{topics}})
                  {{keyset}})
      {{segment}}
"""
# Over the frequency cap: counted only for subscribers who set one (the rest never pay for it).
_OVER_CAP = f"""
    s.frequency <> 'every' AND (
        SELECT count(*) FROM {_DELIVERY} r
        WHERE r.subscriber_id = s.id
          AND r.sent_at >= CASE WHEN s.frequency = 'week' THEN %(week_ago)s ELSE %(month_ago)s END
    ) >= s.frequency_limit
"""
_PAUSED = "s.paused_until >= %(today)s"

_COUNT_SQL = f"""
    SELECT count(*),
           count(*) FILTER (WHERE sup.id IS NOT NULL),
           count(*) FILTER (WHERE sup.id IS NULL AND d.id IS NOT NULL),
           count(*) FILTER (WHERE sup.id IS NULL AND d.id IS NULL AND {_PAUSED}),
           count(*) FILTER (WHERE sup.id IS NULL AND d.id IS NULL
                            AND (s.paused_until IS NULL OR NOT ({_PAUSED})) AND {_OVER_CAP})
    FROM {_SUBSCRIBER} s
    LEFT JOIN {_SUPPRESSION} sup ON sup.email_hash = s.email_hash
    LEFT JOIN {_DELIVERY} d ON d.campaign_id = %(campaign)s AND d.subscriber_id = s.id
    WHERE s.status = 'confirmed'
      AND EXISTS (SELECT 1 FROM {_SUBSCRIPTION} sub
                  WHERE sub.subscriber_id = s.id AND sub.status = 'active' AND sub.topic_id IN ({{topics}}))
      {{segment}}
"""

# Keyset-paged on both sides of each join: PostgreSQL does not carry "s.id > after" over
# to the subscription and delivery rows joined on s.id, and without it merge-joins both from
# their first row on every page (O(N) a page, O(N²) a launch; tests/campaigns/test_audience_plan.py).
# {sample} narrows it to an A/B test's sample (campaigns.sampling).
_PAGE_SQL = f"""
    SELECT s.id, s.email_hash
    {_CANDIDATES.replace("{keyset}", "AND sub.subscriber_id > %(after)s")}
      AND s.id > %(after)s
      AND NOT EXISTS (SELECT 1 FROM {_SUPPRESSION} sup WHERE sup.email_hash = s.email_hash)
      AND NOT EXISTS (SELECT 1 FROM {_DELIVERY} d
                      WHERE d.campaign_id = %(campaign)s AND d.subscriber_id = s.id
                        AND d.subscriber_id > %(after)s)
      AND (s.paused_until IS NULL OR NOT ({_PAUSED}))
      AND NOT ({_OVER_CAP})
      {{sample}}
    ORDER BY s.id
    LIMIT %(limit)s
"""


# The recipients a launch would send to now, per language (the same conditions as a page).
_LANGUAGES_SQL = f"""
    SELECT s.language, count(*)
    {_CANDIDATES.replace("{keyset}", "")}
      AND NOT EXISTS (SELECT 1 FROM {_SUPPRESSION} sup WHERE sup.email_hash = s.email_hash)
      AND NOT EXISTS (SELECT 1 FROM {_DELIVERY} d
                      WHERE d.campaign_id = %(campaign)s AND d.subscriber_id = s.id)
      AND (s.paused_until IS NULL OR NOT ({_PAUSED}))
      AND NOT ({_OVER_CAP})
    GROUP BY s.language
"""


_PLACEHOLDER = re.compile(r"(?<!%)%s")


def _segment_condition(campaign: Campaign, params: dict) -> str:
    """``AND s.id IN (the segment's subscribers)``, or nothing without a segment.

    The segment's filter is compiled by the ORM (audience.filters) and its positional
    placeholders renamed into this query's named ones.
    """
    if campaign.segment_id is None:
        return ""
    spec = AudienceFilter.from_json(campaign.segment.definition)
    sql, values = subscribers_matching(spec).values("pk").query.sql_with_params()
    names = iter(range(len(values)))

    def rename(_match: re.Match) -> str:
        return f"%(segment{next(names)})s"

    sql = _PLACEHOLDER.sub(rename, sql)
    params.update({f"segment{index}": value for index, value in enumerate(values)})
    return f"AND s.id IN ({sql})"


def _params(campaign: Campaign, topic_ids: list[int], **extra) -> tuple[dict, str]:
    now = timezone.now()
    ops = connection.ops  # adapt like the ORM would, so SQLite compares like with like
    params = {
        "campaign": campaign.pk,
        "today": ops.adapt_datefield_value(timezone.localdate()),
        "week_ago": ops.adapt_datetimefield_value(now - FREQUENCY_WINDOWS[Subscriber.Frequency.PER_WEEK]),
        "month_ago": ops.adapt_datetimefield_value(now - FREQUENCY_WINDOWS[Subscriber.Frequency.PER_MONTH]),
        **extra,
    }
    for index, topic_id in enumerate(topic_ids):
        params[f"topic{index}"] = topic_id
    placeholders = ", ".join(f"%(topic{index})s" for index in range(len(topic_ids))) or "NULL"
    return params, placeholders


def _topic_ids(campaign: Campaign) -> list[int]:
    return list(campaign.topics.values_list("pk", flat=True))


@contextmanager
def _no_jit() -> Iterator[None]:
    """PostgreSQL's JIT spends more compiling these short queries than running them."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        yield


def _sample_condition(sample: Sample | None, params: dict, column: str = "s.id") -> str:
    """``AND the subscriber is in the A/B test's sample``, or nothing."""
    if sample is None:
        return ""
    expression, values = sample.sql(column)
    params.update(values)
    return f"AND {expression} < %(ab_b_below)s"


def audience_page_query(
    campaign: Campaign, *, topic_ids: list[int], after: int, limit: int, sample: Sample | None = None
) -> tuple[str, dict]:
    """The SQL and parameters of one audience page: the sendable subscribers with id > after (only
    an A/B test's sample if one is given)."""
    params, placeholders = _params(campaign, topic_ids, after=after, limit=limit)
    segment = _segment_condition(campaign, params)
    condition = _sample_condition(sample, params)
    return _PAGE_SQL.format(topics=placeholders, segment=segment, sample=condition), params


def audience_pages(
    campaign: Campaign, *, page_size: int, sample: Sample | None = None
) -> Iterator[list[tuple[int, str]]]:
    """(subscriber id, email hash) pages, keyset-paged by id: WHERE id > last ORDER BY id LIMIT n;
    only an A/B test's sample if one is given."""
    topic_ids = _topic_ids(campaign)
    last_id = 0
    while True:
        sql, params = audience_page_query(
            campaign, topic_ids=topic_ids, after=last_id, limit=page_size, sample=sample
        )
        with _no_jit(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            page = [(row[0], row[1]) for row in cursor.fetchall()]
        if not page:
            return
        yield page
        last_id = page[-1][0]


def count_audience(campaign: Campaign) -> AudienceCount:
    """One pass over the candidates; each excluded subscriber is counted for its first reason."""
    params, placeholders = _params(campaign, _topic_ids(campaign))
    segment = _segment_condition(campaign, params)
    with _no_jit(), connection.cursor() as cursor:
        cursor.execute(_COUNT_SQL.format(topics=placeholders, segment=segment), params)
        candidates, *counts = cursor.fetchone()
    excluded = dict(zip(EXCLUSION_REASONS, counts, strict=True))
    recipients = candidates - sum(excluded.values())
    return AudienceCount(candidates=candidates, recipients=recipients, excluded=excluded)


@dataclass(frozen=True)
class LanguageGroup:
    """The recipients in one language and the version they get."""

    language: str
    recipients: int
    version_language: str

    @property
    def name(self) -> str:
        return language_name(self.language)

    @property
    def version_name(self) -> str:
        return language_name(self.version_language)

    @property
    def falls_back(self) -> bool:
        return self.language != self.version_language

    @property
    def note(self) -> str:
        """ "No German version: 120 German subscribers get English." when they fall back."""
        if not self.falls_back:
            return ""
        return ngettext(
            "No %(language)s version: %(count)s %(language)s subscriber gets %(version)s.",
            "No %(language)s version: %(count)s %(language)s subscribers get %(version)s.",
            self.recipients,
        ) % {
            "language": self.name,
            "count": formats.number_format(self.recipients, force_grouping=True),
            "version": self.version_name,
        }


def audience_by_language(campaign: Campaign) -> list[LanguageGroup]:
    """The recipients a launch would send to now, per language (settings.LANGUAGES order), with the
    version each group gets; languages without recipients are left out."""
    params, placeholders = _params(campaign, _topic_ids(campaign))
    segment = _segment_condition(campaign, params)
    with _no_jit(), connection.cursor() as cursor:
        cursor.execute(_LANGUAGES_SQL.format(topics=placeholders, segment=segment), params)
        counts = dict(cursor.fetchall())
    return _groups(campaign, counts)


def _groups(campaign: Campaign, counts: dict[str, int]) -> list[LanguageGroup]:
    served = served_by(campaign)
    order = [*languages(), *sorted(set(counts) - set(languages()))]
    return [
        LanguageGroup(
            language=code,
            recipients=counts[code],
            version_language=served.get(code, campaign.default_language),
        )
        for code in order
        if counts.get(code)
    ]


@dataclass(frozen=True)
class LanguageStats:
    language: str
    delivered: int
    repliers: int

    @property
    def name(self) -> str:
        return language_name(self.language)


def stats_by_language(campaign: Campaign) -> list[LanguageStats]:
    """Delivered mails and people who replied, per subscriber language (erased subscribers have none
    and are left out; a language is the subscriber's now)."""
    S = Delivery.Status
    delivered = dict(
        Delivery.objects.filter(
            campaign=campaign, subscriber__isnull=False, status__in=[S.SENT, S.BOUNCED, S.COMPLAINED]
        )
        .values_list("subscriber__language")
        .annotate(count=Count("pk"))
        .values_list("subscriber__language", "count")
    )
    repliers = campaign_repliers_by_language(campaign.pk)
    found = set(delivered) | set(repliers)
    order = [*languages(), *sorted(found - set(languages()))]
    return [
        LanguageStats(language=code, delivered=delivered.get(code, 0), repliers=repliers.get(code, 0))
        for code in order
        if code in found
    ]


# The sample's page query over the whole audience (after 0, no limit to speak of), counted.
_SAMPLE_COUNT_SQL = "SELECT count(*) FILTER (WHERE {bucket} < %(ab_a_below)s), count(*) FROM ({page}) AS page"
_NO_LIMIT = 2**62


@dataclass(frozen=True)
class SampleCount:
    a: int
    b: int
    rest: int  # the audience a launch would reach now, less the sample


def count_sample(campaign: Campaign, sample: Sample, *, recipients: int) -> SampleCount:
    """How many of the audience a launch would reach now get A, get B, and wait for the winner."""
    page, params = audience_page_query(
        campaign, topic_ids=_topic_ids(campaign), after=0, limit=_NO_LIMIT, sample=sample
    )
    expression, _values = sample.sql("page.id")
    sql = _SAMPLE_COUNT_SQL.format(bucket=expression, page=page)
    with _no_jit(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        a, total = cursor.fetchone()
    return SampleCount(a=a, b=total - a, rest=max(recipients - total, 0))


@dataclass(frozen=True)
class ABCounts:
    """An A/B test's figures: mails delivered with each variant, and the people who replied to them
    (a human reply matched to that delivery; auto-replies and bounces are other kinds)."""

    delivered_a: int
    delivered_b: int
    repliers_a: int
    repliers_b: int


def ab_counts(campaign: Campaign) -> ABCounts:
    delivered = [Delivery.Status.SENT, Delivery.Status.BOUNCED, Delivery.Status.COMPLAINED]
    replied = Exists(
        Message.objects.filter(
            delivery=OuterRef("pk"),
            direction=Message.Direction.INBOUND,
            kind=InboundMessage.Kind.HUMAN,
        )
    )
    # One delivery per (campaign, subscriber): counting deliveries counts people.
    counts = (
        Delivery.objects.filter(campaign=campaign, variant__in=[A, B])
        .annotate(replied=replied)
        .aggregate(
            delivered_a=Count("pk", filter=Q(variant=A, status__in=delivered)),
            delivered_b=Count("pk", filter=Q(variant=B, status__in=delivered)),
            repliers_a=Count("pk", filter=Q(variant=A, replied=True)),
            repliers_b=Count("pk", filter=Q(variant=B, replied=True)),
        )
    )
    return ABCounts(**counts)


@dataclass(frozen=True)
class CampaignStats:
    audience: int
    queued: int
    sending: int  # handed over to the mail server (or claimed), not yet recorded as sent
    sent: int
    failed: int
    bounced: int
    complained: int
    soft_bounces: int
    unsubscribes: int
    replies: int  # reply messages, follow-ups included
    repliers: int  # people who replied, each once
    # Sent, but handed over in the round a killed worker was in: the server may or may not have
    # taken them (campaigns.sending.ledger); counted among `sent`.
    unconfirmed: int = 0

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
        """People who replied out of those the mail reached (not messages: follow-ups would inflate it)."""
        return round(100 * self.repliers / self.delivered, 1) if self.delivered else 0.0

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
            "repliers": self.repliers,
            "unconfirmed": self.unconfirmed,
            "delivered": self.delivered,
            "reply_rate_percent": self.reply_rate_percent,
            "progress_percent": self.progress_percent,
        }


def campaign_stats(campaign: Campaign) -> CampaignStats:
    S = Delivery.Status
    counts = Delivery.objects.filter(campaign=campaign).aggregate(
        audience=Count("pk"),
        soft_bounces=Coalesce(Sum("soft_bounces"), 0),
        unconfirmed=Count("pk", filter=Q(handover_unconfirmed=True)),
        **{status.value: Count("pk", filter=Q(status=status)) for status in S},
    )
    # On PostgreSQL a sending process holds its rows with a row lock, not a "sending" state
    # (campaigns.sending.loop): the mails it has handed over are its acceptances not yet folded
    # into the rows (at most a chunk per process), still "queued" in the counts above.
    handed_over = Acceptance.objects.filter(delivery__campaign=campaign, delivery__status=S.QUEUED).count()
    unsubscribes = ConsentEvent.objects.filter(
        kind=ConsentEvent.Kind.UNSUBSCRIBED, details__campaign_id=campaign.pk
    ).count()
    replies = campaign_replies(campaign.pk)
    return CampaignStats(
        audience=counts["audience"],
        queued=counts[S.QUEUED] - handed_over,
        sending=counts[S.SENDING] + handed_over,
        sent=counts[S.SENT],
        failed=counts[S.FAILED],
        bounced=counts[S.BOUNCED],
        complained=counts[S.COMPLAINED],
        soft_bounces=counts["soft_bounces"],
        unsubscribes=unsubscribes,
        replies=replies.messages,
        repliers=replies.people,
        unconfirmed=counts["unconfirmed"],
    )


def failed_deliveries(campaign: Campaign, *, limit: int = 50) -> QuerySet[Delivery]:
    """The most recent permanent failures with their reason, for the detail page."""
    return (
        Delivery.objects.filter(campaign=campaign, status=Delivery.Status.FAILED)
        .select_related("subscriber")
        .order_by("-updated_at")[:limit]
    )


def test_recipient(address: str, *, language: str) -> testmail.TestRecipient:
    """Whom a preview or test send is rendered as: the subscriber with this address, else the sample
    (in ``language``), saying so when an address was given."""
    address = address.strip()
    subscriber = Subscriber.objects.filter(email__iexact=address).first() if address else None
    if subscriber is None:
        return testmail.sample(language, asked_for=address)
    return testmail.of_subscriber(subscriber)


# Stats after sending: when, how long, the send timeline and replies over time, the recipients.
STATS_REPLY_DAYS = 14  # replies are charted for the first two weeks after the start


@dataclass(frozen=True)
class SendTimes:
    started_at: object  # datetime | None
    first_sent_at: object
    last_sent_at: object
    finished_at: object

    @property
    def duration(self) -> timedelta | None:
        if self.first_sent_at is None or self.last_sent_at is None:
            return None
        return self.last_sent_at - self.first_sent_at


def send_times(campaign: Campaign) -> SendTimes:
    span = Delivery.objects.filter(campaign=campaign, sent_at__isnull=False).aggregate(
        first=Min("sent_at"), last=Max("sent_at")
    )
    return SendTimes(
        started_at=campaign.started_at,
        first_sent_at=span["first"],
        last_sent_at=span["last"],
        finished_at=campaign.finished_at,
    )


def _unit(times: SendTimes) -> str:
    """Hours for a send that took under two days, else days."""
    duration = times.duration
    return "hour" if duration is not None and duration < timedelta(days=2) else "day"


def _label(moment, unit: str) -> str:
    local = timezone.localtime(moment)
    return formats.date_format(local, "SHORT_DATETIME_FORMAT" if unit == "hour" else "SHORT_DATE_FORMAT")


def send_timeline(campaign: Campaign, times: SendTimes) -> Chart:
    """Mails handed over per hour (or day), and how many had gone out by then."""
    unit = _unit(times)
    trunc = {"hour": TruncHour, "day": TruncDay}[unit]
    rows = (
        Delivery.objects.filter(campaign=campaign, sent_at__isnull=False)
        .annotate(bucket=trunc("sent_at"))
        .values("bucket")
        .annotate(count=Count("pk"))
        .order_by("bucket")
    )
    total, chart_rows = 0, []
    for row in rows:
        total += row["count"]
        chart_rows.append((_label(row["bucket"], unit), [row["count"], total]))
    return Chart(
        id="send-timeline",
        caption=_("Send timeline"),
        x_label=_("Hour") if unit == "hour" else _("Day"),
        series=[_("Mails sent"), _("Sent so far")],
        rows=chart_rows,
        kind="bar",
        empty_text=_("No mail has gone out yet."),
    )


def replies_timeline(campaign: Campaign, times: SendTimes) -> Chart:
    """Human replies per hour or day since the start, gaps counted as 0 (a quiet hour is a number too)."""
    unit = _unit(times)
    counts = campaign_replies_over_time(campaign.pk, unit=unit)
    chart_rows = []
    if counts:
        step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
        start = min(counts)
        if times.first_sent_at is not None:
            start = min(start, _truncated(times.first_sent_at, unit))
        end = max(counts)
        limit = start + timedelta(days=STATS_REPLY_DAYS)
        moment = start
        while moment <= end and moment <= limit:
            chart_rows.append((_label(moment, unit), [counts.get(moment, 0)]))
            moment += step
    return Chart(
        id="replies-timeline",
        caption=_("Replies over time"),
        x_label=_("Hour") if unit == "hour" else _("Day"),
        series=[_("Replies")],
        rows=chart_rows,
        kind="line",
        empty_text=_("No replies yet."),
    )


def _truncated(moment, unit: str):
    """What the database's date_trunc gives, in the current time zone."""
    local = timezone.localtime(moment)
    local = local.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        local = local.replace(hour=0)
    return local


def recipients(campaign: Campaign, *, status: str = "") -> QuerySet[Delivery]:
    """The campaign's deliveries with their subscriber, optionally of one state, in sending order."""
    rows = Delivery.objects.filter(campaign=campaign).select_related("subscriber").order_by("pk")
    if status in Delivery.Status.values:
        rows = rows.filter(status=status)
    return rows


def campaign_bounces(campaign: Campaign, *, limit: int = 50) -> QuerySet[Bounce]:
    """The bounces and complaints that came back for this campaign's mail, with their reason."""
    return (
        Bounce.objects.filter(campaign_id=campaign.pk)
        .select_related("subscriber")
        .order_by("-received_at", "-id")[:limit]
    )
