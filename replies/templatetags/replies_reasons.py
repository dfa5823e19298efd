"""{{ reasons|reason_text }}, {{ hit|hit_reason }}, {{ code|rule_label }}, {{ code|routing_label }}:
stored codes in the active language (the codes themselves are shown only on demand)."""

from django import template
from django.utils.translation import gettext_lazy as _

from replies import reasons
from replies.reports import breaches_sla

register = template.Library()

# The recognition rules of replies/pipeline/rules.py, by their `name`.
RULE_LABELS = {
    "matching": _("Matching"),
    "bounce": _("Bounce"),
    "auto_reply": _("Auto-reply"),
    "unsubscribe_by_reply": _("Unsubscribe by reply"),
    "staff_answer": _("Staff answer by mail"),
    "human": _("Written by a person"),
}

# The deciding routing rules of replies/routing.py (and a manual reassignment).
ROUTING_LABELS = {
    "keep_assignee": _("Stays with the assignee"),
    "campaign_contact": _("Campaign contact person"),
    "topic_owner": _("Topic owner"),
    "routing_rule": _("Routing rule"),
    "round_robin": _("Round robin in the team"),
    "fallback": _("Shared queue"),
    "manual": _("Assigned by hand"),
    "started_by_staff": _("Started by staff"),
}


@register.filter
def reason_text(items) -> str:
    return reasons.render(items)


@register.filter
def hit_reason(hit: dict) -> str:
    return reasons.render_hit(hit) if isinstance(hit, dict) else ""


@register.filter
def rule_label(code: str) -> str:
    return str(RULE_LABELS.get(code, code))


@register.filter
def routing_label(code: str) -> str:
    return str(ROUTING_LABELS.get(code, code or "–"))


@register.filter
def sla_breached(conversation) -> bool:
    """Waiting longer than its team's first-answer target (replies.reports.breaches_sla)."""
    return breaches_sla(conversation)


@register.filter
def or_dash(value) -> object:
    """A number, or "–" when there is none (0 is a number)."""
    return "–" if value is None else value
