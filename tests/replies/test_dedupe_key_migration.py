"""Migration replies 0011: rows stored under an old dedupe key get today's key, so the same
message delivered again after the upgrade is recognised (and answered) once."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from replies import services
from replies.models import InboundMessage
from replies.parsing import parse_bytes
from replies.services.inbound import content_key, dedupe_key
from tests.replies.hostile import mail

pytestmark = pytest.mark.django_db

migration = importlib.import_module("replies.migrations.0011_recompute_dedupe_keys")


def _old_row(raw: bytes, source: str, key: str) -> InboundMessage:
    return InboundMessage.objects.create(raw=raw, size=len(raw), source=source, dedupe_key=key)


def test_old_keys_are_recomputed_and_a_redelivery_is_then_recognised(world):
    smtp_raw, hook_raw = mail(body=b"Hallo aus SMTP"), mail(body=b"Hallo vom Webhook")
    smtp_row = _old_row(smtp_raw, InboundMessage.Source.SMTP, "0" * 64)
    hook_row = _old_row(hook_raw, InboundMessage.Source.WEBHOOK, "1" * 64)
    migration.recompute(apps, None)
    smtp_row.refresh_from_db()
    hook_row.refresh_from_db()
    assert smtp_row.dedupe_key == dedupe_key(smtp_raw)
    assert hook_row.dedupe_key == content_key(parse_bytes(hook_raw))
    again = services.store_inbound(smtp_raw, source=InboundMessage.Source.SMTP)
    assert again.duplicate and again.pk == smtp_row.pk
    assert InboundMessage.objects.count() == 2


def test_two_old_rows_of_one_message_both_stay(world, monkeypatch):
    raw = mail(body=b"zweimal gespeichert")
    first = _old_row(raw, InboundMessage.Source.SMTP, "a" * 64)
    second = _old_row(raw, InboundMessage.Source.PIPE, "b" * 64)
    monkeypatch.setattr(migration, "BATCH_BYTES", 1)  # every row its own batch
    migration.recompute(apps, None)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.dedupe_key == dedupe_key(raw)
    assert second.dedupe_key == "b" * 64  # the later duplicate keeps its old key; nothing deleted
    migration.recompute(apps, None)  # idempotent
    assert InboundMessage.objects.count() == 2
