"""The audience desk: attributes, segments, recorded changes, UI imports, archived topics, the
list's sort and search indexes, and the permission for groups Marketers and Managers.

PostgreSQL only (SQLite, used by ``make run``, skips them): trigram indexes (pg_trgm, a trusted
extension a database owner may create) for searching address and name with ``icontains``, which
Django compiles to ``UPPER(col::text) LIKE UPPER(%s)``; a GIN index on the attributes for
"attribute is ..." (JSON containment).
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


POSTGRES_INDEXES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS subscriber_email_trgm_idx ON subscribers_subscriber "
    "USING gin (UPPER(email::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS subscriber_name_trgm_idx ON subscribers_subscriber "
    "USING gin (UPPER(name::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS subscriber_attributes_idx ON subscribers_subscriber "
    "USING gin (attributes jsonb_path_ops)",
]
DROP_POSTGRES_INDEXES = [
    "DROP INDEX IF EXISTS subscriber_email_trgm_idx",
    "DROP INDEX IF EXISTS subscriber_name_trgm_idx",
    "DROP INDEX IF EXISTS subscriber_attributes_idx",
]


def create_postgres_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_INDEXES:
            schema_editor.execute(statement)


def drop_postgres_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP_POSTGRES_INDEXES:
            schema_editor.execute(statement)


def grant_audience_desk(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; we need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="subscribers", codename="use_audience_desk")
    for name in ("Marketers", "Managers"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(permission)


class Migration(migrations.Migration):

    dependencies = [
        ('subscribers', '0006_optin_requests_and_mailboxes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name='Attribute',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.SlugField(help_text='Used in the API, imports and exports; cannot be changed later.', unique=True, verbose_name='key')),
                ('label_en', models.CharField(max_length=100, verbose_name='label (English)')),
                ('label_de', models.CharField(max_length=100, verbose_name='label (German)')),
                ('kind', models.CharField(choices=[('text', 'Text'), ('number', 'Number'), ('date', 'Date'), ('choice', 'Choice'), ('yes_no', 'Yes/no')], max_length=8, verbose_name='type')),
                ('choices', models.JSONField(blank=True, default=list, help_text='Only for the type Choice.', verbose_name='choices')),
                ('is_public', models.BooleanField(default=False, help_text='Public fields may be asked for on the signup page and in the API.', verbose_name='public')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
            ],
            options={
                'verbose_name': 'attribute',
                'verbose_name_plural': 'attributes',
                'ordering': ['key'],
            },
        ),
        migrations.CreateModel(
            name='ImportJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source', models.CharField(max_length=200, verbose_name='source')),
                ('data', models.TextField(verbose_name='data')),
                ('filename', models.CharField(blank=True, max_length=255, verbose_name='file name')),
                ('status', models.CharField(choices=[('draft', 'Being prepared'), ('waiting', 'Waiting'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='draft', max_length=8, verbose_name='status')),
                ('columns', models.JSONField(default=list, verbose_name='columns')),
                ('mapping', models.JSONField(blank=True, default=dict, verbose_name='column mapping')),
                ('total', models.PositiveIntegerField(default=0, verbose_name='rows')),
                ('done', models.PositiveIntegerField(default=0, verbose_name='rows done')),
                ('report', models.JSONField(blank=True, default=dict, verbose_name='report')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='started')),
                ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished')),
            ],
            options={
                'verbose_name': 'import',
                'verbose_name_plural': 'imports',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='Segment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200, verbose_name='name')),
                ('definition', models.JSONField(default=dict, verbose_name='filter')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
            ],
            options={
                'verbose_name': 'segment',
                'verbose_name_plural': 'segments',
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='SubscriberChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('changes', models.JSONField(default=dict, verbose_name='changes')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='time')),
            ],
            options={
                'verbose_name': 'subscriber change',
                'verbose_name_plural': 'subscriber changes',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AlterModelOptions(
            name='subscriber',
            options={'permissions': [('use_audience_desk', 'Can use the audience desk')], 'verbose_name': 'subscriber', 'verbose_name_plural': 'subscribers'},
        ),
        migrations.AddField(
            model_name='subscriber',
            name='attributes',
            field=models.JSONField(blank=True, default=dict, verbose_name='attributes'),
        ),
        migrations.AddField(
            model_name='topic',
            name='archived_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='archived'),
        ),
        migrations.AddIndex(
            model_name='subscriber',
            index=models.Index(fields=['name', 'id'], name='subscriber_name_idx'),
        ),
        migrations.AddIndex(
            model_name='subscriber',
            index=models.Index(fields=['confirmed_at', 'id'], name='subscriber_confirmed_idx'),
        ),
        migrations.AddField(
            model_name='importjob',
            name='created_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='started by'),
        ),
        migrations.AddField(
            model_name='importjob',
            name='topic',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='subscribers.topic', verbose_name='topic'),
        ),
        migrations.AddField(
            model_name='segment',
            name='created_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by'),
        ),
        migrations.AddField(
            model_name='subscriberchange',
            name='changed_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='changed by'),
        ),
        migrations.AddField(
            model_name='subscriberchange',
            name='subscriber',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='changes', to='subscribers.subscriber', verbose_name='subscriber'),
        ),
        migrations.AddIndex(
            model_name="subscriber",
            index=models.Index(fields=["status", "id"], name="subscriber_status_id_idx"),
        ),
        migrations.AddIndex(
            model_name="subscriber",
            index=models.Index(fields=["language", "id"], name="subscriber_language_id_idx"),
        ),
        migrations.RunPython(create_postgres_indexes, drop_postgres_indexes),
        migrations.RunPython(grant_audience_desk, migrations.RunPython.noop),
    ]
