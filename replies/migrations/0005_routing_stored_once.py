"""Routing stored once, as codes: the English routing text becomes legacy_routing_reason.

Rows routed before reasons were codes have only the English text. Where every part of it
(joined by "; ") is one of the texts routing wrote, it becomes codes with their parameters
and the text is cleared; anything else stays as read-only legacy text, shown as it is.
The texts are frozen here as they were written (the English source strings of
replies.reasons at the time), so later changes to those strings cannot change this migration.
"""

import re

from django.db import migrations, models

ROUTING_TEXTS = {
    "keep_assignee": "open conversation stays with %(name)s",
    "campaign_contact": "%(name)s is the campaign's contact person",
    "topic_owner": "%(name)s owns the topic “%(topic)s”",
    "routing_rule": "routing rule “%(rule)s” matched",
    "round_robin": "round robin in team %(team)s: %(name)s",
    "team_all_away": "every member of %(team)s is away: team queue",
    "away_deputy": "%(name)s is away, deputy %(deputy)s",
    "away_no_deputy": "%(name)s is away and has no deputy: fallback queue",
    "fallback": "no routing rule applied: shared unassigned queue",
    "reassigned": "reassigned by %(name)s",
}


def _pattern(text):
    parts = re.split(r"%\((\w+)\)s", text)
    regex = ""
    for index, part in enumerate(parts):
        regex += re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)"
    return re.compile(f"^{regex}$")


PATTERNS = [(code, _pattern(text)) for code, text in ROUTING_TEXTS.items()]


def as_codes(text):
    """The codes of an English routing text, or None if any part is not one routing wrote."""
    reasons = []
    for part in text.split("; "):
        for code, pattern in PATTERNS:
            match = pattern.match(part)
            if match:
                params = match.groupdict()
                reasons.append({"code": code, "params": params} if params else {"code": code})
                break
        else:
            return None
    return reasons


def to_codes(apps, schema_editor):
    Conversation = apps.get_model("replies", "Conversation")
    legacy = Conversation.objects.filter(routing_reasons=[]).exclude(legacy_routing_reason="")
    for conversation in legacy.iterator():
        reasons = as_codes(conversation.legacy_routing_reason)
        if reasons:
            conversation.routing_reasons = reasons
            conversation.legacy_routing_reason = ""
            conversation.save(update_fields=["routing_reasons", "legacy_routing_reason"])
    # Rows with codes carry the text only as a copy of them: it goes.
    Conversation.objects.exclude(routing_reasons=[]).exclude(legacy_routing_reason="").update(
        legacy_routing_reason=""
    )


def to_text(apps, schema_editor):
    """Back: every row gets its English text again (from its codes, or its legacy text)."""
    Conversation = apps.get_model("replies", "Conversation")
    for conversation in Conversation.objects.exclude(routing_reasons=[]).iterator():
        parts = []
        for item in conversation.routing_reasons:
            text = ROUTING_TEXTS.get(item.get("code", ""))
            if text is None:
                break
            parts.append(text % item.get("params", {}) if item.get("params") else text)
        else:
            conversation.legacy_routing_reason = "; ".join(parts)
            conversation.save(update_fields=["legacy_routing_reason"])


class Migration(migrations.Migration):
    dependencies = [("replies", "0004_outbound_send_status")]

    operations = [
        migrations.RenameField("conversation", "routing_reason", "legacy_routing_reason"),
        migrations.AlterField(
            model_name="conversation",
            name="legacy_routing_reason",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(to_codes, to_text),
    ]
