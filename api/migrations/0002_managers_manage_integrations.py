"""Managers make API keys and webhook endpoints (the integrations pages)."""

from django.db import migrations


def managers_manage_integrations(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    managers, _ = Group.objects.get_or_create(name="Managers")
    managers.permissions.add(
        *Permission.objects.filter(content_type__app_label="api", codename="manage_integrations")
    )


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial"), ("replies", "0002_staff_groups"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(managers_manage_integrations, migrations.RunPython.noop)]
