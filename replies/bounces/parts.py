"""Walking a bounce's own MIME parts, never those of the returned original inside it."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import Message
from email.parser import HeaderParser

from replies.parsing import message_ids, part_text, safe_header

# The returned original: its parts (and any report nested in a double bounce) are not ours to read.
ORIGINAL_TYPES = frozenset(
    {"message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers"}
)
# Machine-readable reports: header blocks, read as they are.
FIELD_TYPES = frozenset(
    {"message/delivery-status", "message/global-delivery-status", "message/feedback-report"}
)


def own_parts(message: Message) -> Iterator[Message]:
    """Every leaf part of the bounce itself, depth first, stopping at returned originals."""
    stack = [message]
    while stack:
        part = stack.pop(0)
        content_type = part.get_content_type()
        if part is not message and content_type in ORIGINAL_TYPES:
            yield part
            continue
        if content_type in FIELD_TYPES:
            yield part
            continue
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = payload
            continue
        yield part


def field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and all(isinstance(p, Message) for p in payload):
        blocks = list(payload)
        if len(blocks) >= 1 and _has_recipient(blocks):
            return blocks
    # Not parsed into blocks (a transfer encoding, a lying Content-Type): read the text ourselves.
    raw = part.get_payload(decode=True)
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", "replace")
    elif isinstance(payload, str):
        text = payload
    elif isinstance(payload, list):
        text = "\n\n".join(p.as_string() if isinstance(p, Message) else str(p) for p in payload)
    else:
        text = ""
    text = text.replace("\r\n", "\n")
    parser = HeaderParser()
    return [parser.parsestr(block.strip() + "\n") for block in text.split("\n\n") if block.strip()]


def _has_recipient(blocks: list[Message]) -> bool:
    return any(b.get("Final-Recipient") or b.get("Original-Recipient") for b in blocks) or any(
        b.get("Feedback-Type") for b in blocks
    )


def originals(message: Message) -> list[Message]:
    """The returned original(s) (or their headers) the bounce carries."""
    found = []
    for part in own_parts(message):
        if part.get_content_type() not in ORIGINAL_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            found.append(payload[0])
        else:
            text = part_text(part)
            found.append(HeaderParser().parsestr(text.replace("\r\n", "\n")))
    return found


def original_text(message: Message, limit: int = 200_000) -> str:
    """The returned original(s) as text, for the reply token or VERP address quoted in them."""
    texts = []
    for original in originals(message):
        try:
            texts.append(original.as_string())
        except Exception:  # noqa: BLE001 - a broken original still has its headers
            texts.append("\n".join(f"{k}: {v}" for k, v in original.raw_items()))
    return "\n".join(texts)[:limit]


def original_message_ids(message: Message) -> tuple[str, ...]:
    ids: list[str] = []
    for original in originals(message):
        for msgid in message_ids(safe_header(original, "Message-ID")):
            if msgid not in ids:
                ids.append(msgid)
    return tuple(ids)


def own_text(message: Message) -> str:
    """The human-readable text of the bounce itself (not of the returned original)."""
    texts = []
    for part in own_parts(message):
        if part.get_content_type() in ("text/plain", "text/html"):
            texts.append(part_text(part))
    return "\n".join(texts)
