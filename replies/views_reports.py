"""Reports for managers (replies.reports): charts with their numbers, and the same as CSV."""

from __future__ import annotations

import csv
from datetime import timedelta

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from replies import reports
from rundbrief.charts import Chart

GROUPS = {
    "person": gettext_lazy("Person"),
    "team": gettext_lazy("Team"),
    "topic": gettext_lazy("Topic"),
    "campaign": gettext_lazy("Campaign"),
}


def manager_view(view):
    """Managers only (every conversation is in a report): staff and marketers get 403."""
    return login_required(permission_required("replies.view_all_conversations", raise_exception=True)(view))


def _period(request: HttpRequest) -> tuple:
    today = timezone.localdate()
    end = parse_date(request.GET.get("until", "") or "") or today
    start = parse_date(request.GET.get("from", "") or "") or end - timedelta(days=29)
    start = max(start, end - timedelta(days=366))
    return (start, end) if start <= end else (end, end)


def _hours(minutes: float | None) -> float | None:
    return None if minutes is None else round(minutes / 60, 1)


@manager_view
def report(request: HttpRequest) -> HttpResponse:
    start, end = _period(request)
    data = reports.build(start=start, end=end)
    per_day = Chart(
        caption=_("Conversations per day"),
        x_label=_("Day"),
        series=[_("opened"), _("answered"), _("closed")],
        rows=[(day.isoformat(), [opened, answered, closed]) for day, opened, answered, closed in data.days],
        kind="bar",
        id="chart-per-day",
    )
    tables = []
    for by, label in GROUPS.items():
        rows = []
        for name, durations in sorted(data.first_response.get(by, {}).items()):
            resolved = data.resolution.get(by, {}).get(name, reports.Durations())
            rows.append((name, durations, resolved))
        for name, resolved in sorted(data.resolution.get(by, {}).items()):
            if name not in data.first_response.get(by, {}):
                rows.append((name, reports.Durations(), resolved))
        chart = Chart(
            caption=_("First response (hours) per %(group)s") % {"group": label},
            x_label=str(label),
            series=[_("median"), _("90th percentile")],
            rows=[
                (name, [_hours(first.median), _hours(first.p90)])
                for name, first, _resolved in rows
                if first.count
            ],
            kind="bar",
            id=f"chart-first-response-{by}",
        )
        tables.append({"by": by, "label": label, "rows": rows, "chart": chart})
    overall_first = data.first_response.get("all", {}).get("all", reports.Durations())
    overall_resolution = data.resolution.get("all", {}).get("all", reports.Durations())
    return render(
        request,
        "replies/reports.html",
        {
            "report": data,
            "per_day": per_day,
            "tables": tables,
            "overall_first": overall_first,
            "overall_resolution": overall_resolution,
            "start": start,
            "end": end,
        },
    )


@manager_view
def report_csv(request: HttpRequest) -> HttpResponse:
    start, end = _period(request)
    data = reports.build(start=start, end=end)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="inbox-report-{start}-{end}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "section",
            "group",
            "name",
            "day",
            "opened",
            "answered",
            "closed",
            "count",
            "median_minutes",
            "p90_minutes",
        ]
    )
    for day, opened, answered, closed in data.days:
        writer.writerow(["per_day", "", "", day.isoformat(), opened, answered, closed, "", "", ""])
    for section, grouped in (("first_response", data.first_response), ("resolution", data.resolution)):
        for by, names in sorted(grouped.items()):
            for name, durations in sorted(names.items()):
                writer.writerow(
                    [section, by, name, "", "", "", "", durations.count, durations.median, durations.p90]
                )
    writer.writerow(["backlog", "", "", "", "", "", "", data.backlog, "", ""])
    writer.writerow(["sla_breaches", "", "", "", "", "", "", data.breaches, "", ""])
    return response
