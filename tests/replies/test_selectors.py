import pytest
from django.contrib.auth.models import Group, User

from replies.models import StaffProfile
from replies.selectors import staff_display_name

pytestmark = pytest.mark.django_db


def test_staff_display_name_prefers_profile_then_full_name_then_username():
    user = User.objects.create_user("anna", first_name="Anna", last_name="Berg")
    assert staff_display_name(user) == "Anna Berg"
    StaffProfile.objects.create(user=user, display_name="Anna B. (Redaktion)")
    user.refresh_from_db()
    assert staff_display_name(user) == "Anna B. (Redaktion)"
    assert staff_display_name(User.objects.create_user("bob")) == "bob"


def test_groups_staff_and_managers_exist_with_permissions():
    staff = Group.objects.get(name="Staff")
    managers = Group.objects.get(name="Managers")
    staff_codes = set(staff.permissions.values_list("codename", flat=True))
    manager_codes = set(managers.permissions.values_list("codename", flat=True))
    assert {"view_conversation", "change_conversation"} <= staff_codes
    assert "view_all_conversations" not in staff_codes
    assert "view_all_conversations" in manager_codes
