"""The audience over time as charts with their numbers (rundbrief/charts.py)."""

from __future__ import annotations

from django.core.cache import cache
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from audience import selectors
from rundbrief.charts import Chart
from subscribers.models import Topic

# Counting a million subscribers per week takes about a second: the numbers are kept this long
# (the page says when they were counted), so the list's pages stay fast.
CACHE_SECONDS = 600


def weekly_rows(topic: Topic | None, weeks: int) -> tuple[list[selectors.WeekRow], object]:
    """The rows and when they were counted, from the cache if counted in the last ten minutes."""
    key = f"audience:weekly:{topic.pk if topic else 'all'}:{weeks}:{timezone.localdate().isoformat()}"
    cached = cache.get(key)
    if cached is None:
        cached = (selectors.weekly(topic=topic, weeks=weeks), timezone.now())
        cache.set(key, cached, CACHE_SECONDS)
    return cached


def audience_chart(topic: Topic | None = None, *, weeks: int = 12) -> Chart:
    """Confirmed subscribers, new confirmations, unsubscribes and bounces per week."""
    rows, counted_at = weekly_rows(topic, weeks)
    return Chart(
        caption=(
            _("Audience per week (%(topic)s)") % {"topic": topic.name}
            if topic
            else _("Audience per week (all topics)")
        )
        + " · "
        + _("counted at %(time)s")
        % {"time": formats.time_format(timezone.localtime(counted_at), "TIME_FORMAT")},
        x_label=_("Week from"),
        series=[_("Confirmed"), _("New confirmations"), _("Unsubscribes"), _("Bounces and complaints")],
        rows=[
            (
                formats.date_format(row.week, "SHORT_DATE_FORMAT"),
                [row.confirmed_total, row.new_confirmations, row.unsubscribes, row.bounces],
            )
            for row in rows
        ],
        kind="line",
        id=f"audience-chart-{topic.pk}" if topic else "audience-chart",
    )
