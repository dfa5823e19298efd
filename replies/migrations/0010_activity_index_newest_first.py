"""The activity index as search results and the closed queue are ordered: newest first, NULLs
last (replies.pagination, replies.search). PostgreSQL only: SQLite cannot index NULLS LAST, and
`make run` needs no index for its few rows. Replaces 0007_inbox's ascending index."""

from django.db import migrations

INDEX = "conversation_activity_desc_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX {INDEX} ON replies_conversation (last_message_at DESC NULLS LAST, id DESC)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("replies", "0009_merge_bounces")]

    operations = [
        migrations.RemoveIndex(model_name="conversation", name="conversation_activity_idx"),
        migrations.RunPython(create, drop),
    ]
