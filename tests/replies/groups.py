"""The groups that give people access to the inbox (also created by migration 0002).

`ensure_groups()` is for code that runs after a database flush (e.g. transactional tests),
where the data migration's groups are gone but the permissions are recreated.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

STAFF = "Staff"
MANAGERS = "Managers"
STAFF_PERMISSIONS = [
    "view_conversation",
    "change_conversation",
    "view_message",
    "add_message",
    "view_conversationevent",
    "add_conversationevent",
    "view_attachment",
    "view_inboundmessage",
]
MANAGER_EXTRA = ["view_all_conversations", "change_inboundmessage", "view_routingrule", "view_team"]


def ensure_groups() -> None:
    def perms(codenames: list[str]) -> list[Permission]:
        return list(Permission.objects.filter(content_type__app_label="replies", codename__in=codenames))

    staff, _ = Group.objects.get_or_create(name=STAFF)
    staff.permissions.add(*perms(STAFF_PERMISSIONS))
    managers, _ = Group.objects.get_or_create(name=MANAGERS)
    managers.permissions.add(*perms(STAFF_PERMISSIONS + MANAGER_EXTRA))
    # The suppression list (subscribers migration 0007).
    managers.permissions.add(
        *Permission.objects.filter(content_type__app_label="subscribers", codename="lift_suppression")
    )
