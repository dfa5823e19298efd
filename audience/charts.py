"""The audience over time as charts with their numbers (rundbrief/charts.py)."""

from __future__ import annotations

from django.utils import formats
from django.utils.translation import gettext as _

from audience import selectors
from rundbrief.charts import Chart
from subscribers.models import Topic


def audience_chart(topic: Topic | None = None, *, weeks: int = 12) -> Chart:
    """Confirmed subscribers, new confirmations, unsubscribes and bounces per week."""
    rows = selectors.weekly(topic=topic, weeks=weeks)
    return Chart(
        caption=_("Audience per week (%(topic)s)") % {"topic": topic.name}
        if topic
        else _("Audience per week (all topics)"),
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
