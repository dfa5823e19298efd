"""Saved replies: texts staff answer with often, their own, their team's or shared with everyone.

A saved reply's text may contain variables, filled in for the conversation at hand before the
answer is sent (the staff member sees and may change the result in the composer):

    {{ subscriber_name }}  the subscriber's name (else the name their mail carried, else empty)
    {{ campaign }}         the name of the campaign they answered (else empty)
    {{ staff_name }}       the name the staff member answers under

Only these are replaced (no template language: a saved reply cannot reach anything else);
an unknown variable is refused when the saved reply is saved. Usage is counted when an answer
made from a saved reply is sent.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from replies.models import Conversation, SavedReply, Team
from replies.selectors import can_see_all, staff_display_name
from replies.services.answers import recipient_name

VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
VARIABLES = ("subscriber_name", "campaign", "staff_name")


def unknown_variables(text: str) -> list[str]:
    return sorted({name for name in VARIABLE.findall(text) if name not in VARIABLES})


def usable(user: AbstractBaseUser, query: str = "") -> QuerySet[SavedReply]:
    """What this person may answer with: their own, their teams', the shared ones; most used first."""
    team_ids = list(Team.objects.filter(members__user=user).values_list("id", flat=True))
    replies = SavedReply.objects.filter(
        Q(scope=SavedReply.Scope.PERSONAL, owner=user)
        | Q(scope=SavedReply.Scope.TEAM, team_id__in=team_ids)
        | Q(scope=SavedReply.Scope.SHARED)
    )
    query = query.strip()
    if query:
        replies = replies.filter(Q(title__icontains=query) | Q(body__icontains=query))
    return replies.select_related("owner", "team").order_by("-usage_count", "title", "id")


def may_edit(user: AbstractBaseUser, saved: SavedReply) -> bool:
    """Personal ones: their owner. Team ones: the team's members. Shared ones: managers (and the author)."""
    if can_see_all(user) or saved.owner_id == user.pk:
        return True
    if saved.scope == SavedReply.Scope.TEAM:
        return Team.objects.filter(pk=saved.team_id, members__user=user).exists()
    return False


def may_use_scope(user: AbstractBaseUser, scope: str, team: Team | None) -> bool:
    if scope == SavedReply.Scope.SHARED:
        return can_see_all(user)
    if scope == SavedReply.Scope.TEAM:
        return team is not None and (
            can_see_all(user) or Team.objects.filter(pk=team.pk, members__user=user).exists()
        )
    return True


def variables_for(conversation: Conversation, staff: AbstractBaseUser) -> dict[str, str]:
    last = conversation.messages.filter(direction="in").order_by("-created_at", "-id").first()
    return {
        "subscriber_name": recipient_name(conversation, last),
        "campaign": conversation.campaign.name if conversation.campaign_id else "",
        "staff_name": staff_display_name(staff),
    }


def render(saved: SavedReply, *, conversation: Conversation, staff: AbstractBaseUser) -> str:
    values = variables_for(conversation, staff)
    return VARIABLE.sub(lambda match: values.get(match.group(1), match.group(0)), saved.body)


def save(
    *,
    author: AbstractBaseUser,
    title: str,
    body: str,
    scope: str,
    team: Team | None = None,
    saved: SavedReply | None = None,
) -> SavedReply:
    """Create or change a saved reply (the caller checked may_edit / may_use_scope)."""
    unknown = unknown_variables(body)
    if unknown:
        raise ValueError(
            _("Unknown variable: %(names)s. Use %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join("{{ " + v + " }}" for v in VARIABLES)}
        )
    saved = saved or SavedReply(owner=author)
    saved.title, saved.body, saved.scope = title.strip(), body.strip(), scope
    saved.team = team if scope == SavedReply.Scope.TEAM else None
    saved.full_clean()
    saved.save()
    return saved


def record_use(saved_reply_id: int) -> None:
    SavedReply.objects.filter(pk=saved_reply_id).update(
        usage_count=F("usage_count") + 1, last_used_at=timezone.now()
    )
