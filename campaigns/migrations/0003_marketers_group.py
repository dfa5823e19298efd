"""Group "Marketers": write, preview, test-send and launch campaigns; see their stats."""

from django.db import migrations

CAMPAIGN_PERMISSIONS = ["add_campaign", "change_campaign", "view_campaign", "delete_campaign", "view_delivery"]
SUBSCRIBER_PERMISSIONS = ["view_topic", "view_subscriber"]


def create_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; we need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    marketers, _ = Group.objects.get_or_create(name="Marketers")
    marketers.permissions.add(
        *Permission.objects.filter(content_type__app_label="campaigns", codename__in=CAMPAIGN_PERMISSIONS),
        *Permission.objects.filter(content_type__app_label="subscribers", codename__in=SUBSCRIBER_PERMISSIONS),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_send_state"),
        ("subscribers", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
