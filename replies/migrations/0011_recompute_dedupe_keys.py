"""Every stored message gets the dedupe key of today's rule (issue 10).

Rows stored before the key covered the whole message (stable header fields and the whole body;
for ESP webhooks, the parsed parts) kept their old key, so the same message delivered again
after the upgrade would have been stored, and answered, a second time. This recomputes each
row's key from its raw bytes with the functions the receivers use (imported from the app, not
copied: the point is that both agree): `content_key` of the parsed message for webhook rows
(what the webhook receiver keys on), `dedupe_key` of the bytes for all others.

Memory stays bounded: rows are read in batches of at most BATCH_BYTES of raw message (a big
message alone). When two old rows turn out to be the same message under the new rule (a
duplicate the old key let through), the later one keeps its old key: both stay, nothing is
deleted. Reversing keeps the new keys (they are what the code expects).
"""

from django.db import migrations

from replies.parsing import parse_bytes
from replies.services.inbound import content_key, dedupe_key

BATCH_BYTES = 16 * 1024 * 1024


def _key(raw: bytes, source: str) -> str:
    if source == "webhook":
        try:
            return content_key(parse_bytes(raw))
        except Exception:  # noqa: BLE001 - a part the parser cannot decode: the bytes decide, as at intake
            return dedupe_key(raw)
    return dedupe_key(raw)


def _batches(InboundMessage):
    batch, size = [], 0
    for pk, length in (
        InboundMessage.objects.order_by("pk").values_list("pk", "size").iterator(chunk_size=2000)
    ):
        if batch and size + length > BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(pk)
        size += length
    if batch:
        yield batch


def recompute(apps, schema_editor):
    InboundMessage = apps.get_model("replies", "InboundMessage")
    taken = set(InboundMessage.objects.values_list("dedupe_key", flat=True))
    for ids in _batches(InboundMessage):
        rows = (
            InboundMessage.objects.filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", "raw", "source", "dedupe_key")
        )
        for pk, raw, source, old in rows:
            new = _key(bytes(raw), source)
            if new == old or new in taken:
                continue
            InboundMessage.objects.filter(pk=pk).update(dedupe_key=new)
            taken.discard(old)
            taken.add(new)


class Migration(migrations.Migration):
    dependencies = [("replies", "0010_activity_index_newest_first")]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop, elidable=True)]
