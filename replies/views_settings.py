"""What managers set up in the inbox, outside the admin: routing rules (who gets a conversation,
which tags it gets) and each team's business hours and first-answer target. Managers only:
staff and marketers get 403."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from replies.forms import RoutingRuleForm, TeamHoursForm
from replies.models import RoutingRule, Team
from replies.selectors import staff_display_name
from replies.services.configuration import delete_routing_rule, save_routing_rule, set_team_hours
from replies.views import _nav_context
from replies.views_reports import manager_view


@manager_view
def routing_rules(request: HttpRequest) -> HttpResponse:
    rules = RoutingRule.objects.select_related(
        "assign_to__staff_profile", "assign_to_team", "topic"
    ).prefetch_related("add_tags")
    rows = [
        (rule, staff_display_name(rule.assign_to) if rule.assign_to_id else str(rule.assign_to_team or ""))
        for rule in rules
    ]
    return render(request, "replies/routing_rules.html", {**_nav_context(request), "rows": rows})


@manager_view
def routing_rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=pk) if pk else None
    form = RoutingRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        saved = save_routing_rule(rule=form.instance, tag_names=form.cleaned_data["tag_names"])
        messages.success(request, _("Routing rule “%(name)s” saved.") % {"name": saved.name})
        return redirect("replies:routing_rules")
    return render(
        request,
        "replies/routing_rule_edit.html",
        {**_nav_context(request), "form": form, "rule": rule},
        status=400 if form.errors else 200,
    )


@manager_view
@require_POST
def routing_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=pk)
    name = rule.name
    delete_routing_rule(rule=rule)
    messages.success(
        request,
        _("Routing rule “%(name)s” deleted. Conversations keep the tags it set.") % {"name": name},
    )
    return redirect("replies:routing_rules")


@manager_view
def teams(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "replies/teams.html",
        {**_nav_context(request), "teams": Team.objects.prefetch_related("members__user")},
    )


@manager_view
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=pk)
    form = TeamHoursForm(request.POST or None, instance=team)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        set_team_hours(
            team=team,
            sla_minutes=data["sla_minutes"],
            business_days=data["business_days"],
            business_start=data["business_start"],
            business_end=data["business_end"],
        )
        messages.success(request, _("Business hours of %(team)s saved.") % {"team": team.name})
        return redirect("replies:teams")
    return render(
        request,
        "replies/team_edit.html",
        {**_nav_context(request), "form": form, "team": team},
        status=400 if form.errors else 200,
    )
