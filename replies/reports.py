"""Reports for managers: how the inbox goes.

Per day: conversations opened, answered (answers sent by staff) and closed. First-response
time (the subscriber's first mail to our first answer) and resolution time (opened to first
closed), median and 90th percentile, per person (who answered first), team, campaign and
topic (of the campaign). The current backlog, the oldest waiting conversation, and SLA breaches
(a team's target for the first answer, in business minutes: replies.reports.business_minutes).

Computed from the messages and events of the conversations opened in the period: reports are
for a period (30 days by default, at most a year), not for all time.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Min, Q
from django.utils import timezone

from campaigns.interface import campaign_topic_ids
from replies.models import Conversation, ConversationEvent, Message, Team
from replies.selectors import staff_display_name, waiting_conversations
from subscribers.models import Topic


@dataclass
class Durations:
    """Minutes, one per conversation."""

    values: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float | None:
        return round(statistics.median(self.values), 1) if self.values else None

    @property
    def p90(self) -> float | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        return round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 1)


@dataclass
class Report:
    start: date
    end: date
    days: list[tuple[date, int, int, int]]  # day, opened, answered, closed
    first_response: dict[str, dict[str, Durations]]  # by -> name -> durations ("all" -> "all")
    resolution: dict[str, dict[str, Durations]]
    backlog: int
    oldest_waiting: Conversation | None
    breaches: int


def business_minutes(start: datetime, end: datetime, team: Team | None) -> float:
    """Minutes between start and end within the team's business hours (all minutes without a team)."""
    if end <= start:
        return 0.0
    if team is None:
        return (end - start).total_seconds() / 60
    tz = timezone.get_current_timezone()
    start, end = timezone.localtime(start, tz), timezone.localtime(end, tz)
    days = {int(day) for day in team.business_days if day.isdigit()}
    total = 0.0
    day = start.date()
    while day <= end.date():
        if day.isoweekday() in days:
            open_at = datetime.combine(day, team.business_start, tzinfo=tz)
            close_at = datetime.combine(day, team.business_end, tzinfo=tz)
            lo, hi = max(open_at, start), min(close_at, end)
            if hi > lo:
                total += (hi - lo).total_seconds() / 60
        day += timedelta(days=1)
    return total


def breaches_sla(conversation: Conversation, now: datetime | None = None) -> bool:
    """Waiting longer than its team's first-answer target (business minutes)."""
    team = conversation.team
    if team is None or not team.sla_minutes or conversation.waiting_since is None:
        return False
    return business_minutes(conversation.waiting_since, now or timezone.now(), team) > team.sla_minutes


def build(*, start: date, end: date) -> Report:
    tz = timezone.get_current_timezone()
    since = datetime.combine(start, time.min, tzinfo=tz)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    conversations = list(
        Conversation.objects.filter(created_at__gte=since, created_at__lt=until).select_related(
            "team", "campaign"
        )
    )
    ids = [c.pk for c in conversations]
    first_in = dict(
        Message.objects.filter(conversation_id__in=ids, direction=Message.Direction.INBOUND)
        .values("conversation_id")
        .annotate(at=Min("created_at"))
        .values_list("conversation_id", "at")
    )
    answers = (
        Message.objects.filter(conversation_id__in=ids, direction=Message.Direction.OUTBOUND)
        .exclude(send_status=Message.SendStatus.FAILED)
        .select_related("author__staff_profile")
        .order_by("conversation_id", "created_at", "id")
    )
    first_out: dict[int, Message] = {}
    for answer in answers:
        first_out.setdefault(answer.conversation_id, answer)
    closed_at = dict(
        ConversationEvent.objects.filter(conversation_id__in=ids, kind=ConversationEvent.Kind.CLOSED)
        .values("conversation_id")
        .annotate(at=Min("created_at"))
        .values_list("conversation_id", "at")
    )
    topics: dict[int, list[str]] = {}
    topic_names = dict(Topic.objects.values_list("id", "name"))
    first_response: dict[str, dict[str, Durations]] = defaultdict(lambda: defaultdict(Durations))
    resolution: dict[str, dict[str, Durations]] = defaultdict(lambda: defaultdict(Durations))
    for conversation in conversations:
        groups = [("all", "all"), ("team", conversation.team.name if conversation.team else "–")]
        if conversation.campaign_id:
            groups.append(("campaign", conversation.campaign.name))
            if conversation.campaign_id not in topics:
                topics[conversation.campaign_id] = [
                    topic_names.get(pk, "") for pk in campaign_topic_ids(conversation.campaign_id)
                ]
            groups += [("topic", name) for name in topics[conversation.campaign_id]]
        answer = first_out.get(conversation.pk)
        asked = first_in.get(conversation.pk)
        if answer is not None and asked is not None and answer.created_at >= asked:
            minutes = (answer.created_at - asked).total_seconds() / 60
            person = staff_display_name(answer.author) if answer.author else "–"
            for by, name in [*groups, ("person", person)]:
                first_response[by][name].values.append(minutes)
        if conversation.pk in closed_at:
            minutes = (closed_at[conversation.pk] - conversation.created_at).total_seconds() / 60
            assignee = staff_display_name(conversation.assignee) if conversation.assignee_id else "–"
            for by, name in [*groups, ("person", assignee)]:
                resolution[by][name].values.append(minutes)
    days = _per_day(start, end, since, until)
    waiting = waiting_conversations()
    oldest = waiting.select_related("subscriber", "team").order_by("waiting_since", "id").first()
    breaches = sum(
        1 for c in waiting.filter(team__sla_minutes__isnull=False).select_related("team") if breaches_sla(c)
    )
    return Report(
        start=start,
        end=end,
        days=days,
        first_response=first_response,
        resolution=resolution,
        backlog=waiting.count(),
        oldest_waiting=oldest,
        breaches=breaches,
    )


def _per_day(start: date, end: date, since: datetime, until: datetime) -> list[tuple[date, int, int, int]]:
    def by_day(rows) -> dict[date, int]:
        counts: dict[date, int] = defaultdict(int)
        for at in rows:
            counts[timezone.localtime(at).date()] += 1
        return counts

    opened = by_day(
        Conversation.objects.filter(created_at__gte=since, created_at__lt=until).values_list(
            "created_at", flat=True
        )
    )
    answered = by_day(
        Message.objects.filter(
            Q(send_status=Message.SendStatus.SENT)
            | Q(send_status=Message.SendStatus.SENDING)
            | Q(send_status=Message.SendStatus.QUEUED),
            direction=Message.Direction.OUTBOUND,
            created_at__gte=since,
            created_at__lt=until,
        ).values_list("created_at", flat=True)
    )
    closed = by_day(
        ConversationEvent.objects.filter(
            kind=ConversationEvent.Kind.CLOSED, created_at__gte=since, created_at__lt=until
        ).values_list("created_at", flat=True)
    )
    days = []
    day = start
    while day <= end:
        days.append((day, opened.get(day, 0), answered.get(day, 0), closed.get(day, 0)))
        day += timedelta(days=1)
    return days
