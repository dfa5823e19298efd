"""Groups "Staff" (answer conversations) and "Managers" (also see every conversation)."""

from django.db import migrations

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


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; we need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(codenames):
        return list(Permission.objects.filter(content_type__app_label="replies", codename__in=codenames))

    staff, _ = Group.objects.get_or_create(name="Staff")
    staff.permissions.add(*perms(STAFF_PERMISSIONS))
    managers, _ = Group.objects.get_or_create(name="Managers")
    managers.permissions.add(*perms(STAFF_PERMISSIONS + MANAGER_EXTRA))


class Migration(migrations.Migration):
    dependencies = [
        ("replies", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
