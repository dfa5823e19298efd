"""What managers set up in the inbox (outside the admin): routing rules with their tags, and each
team's business hours and first-answer target."""

from __future__ import annotations

import datetime

from django.db import transaction

from replies.models import RoutingRule, Tag, Team


def _tags(names: list[str]) -> list[Tag]:
    """The tags of these names (matched case-insensitively), created when new."""
    tags = []
    for name in names:
        tag = Tag.objects.filter(name__iexact=name).first() or Tag.objects.create(name=name)
        tags.append(tag)
    return tags


def save_routing_rule(*, rule: RoutingRule, tag_names: list[str]) -> RoutingRule:
    """Store a validated rule (its form ran full_clean) and the tags it adds."""
    with transaction.atomic():
        rule.save()
        rule.add_tags.set(_tags(tag_names))
    return rule


def delete_routing_rule(*, rule: RoutingRule) -> None:
    """Deleting a rule changes no conversation: the tags it set and the reasons it gave stay."""
    rule.delete()


def set_team_hours(
    *,
    team: Team,
    sla_minutes: int | None,
    business_days: str,
    business_start: datetime.time,
    business_end: datetime.time,
) -> Team:
    """A team's business hours and first-answer target (business minutes; None: no target).
    The queue's breach marks and the reports use them from the next request on."""
    team.sla_minutes = sla_minutes
    team.business_days = business_days
    team.business_start = business_start
    team.business_end = business_end
    team.save(update_fields=["sla_minutes", "business_days", "business_start", "business_end"])
    return team
