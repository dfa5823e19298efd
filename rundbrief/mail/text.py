"""Text from outside (mail headers, bodies, webhook fields) made safe for a database column.

PostgreSQL refuses NUL in text and jsonb ("text fields cannot contain NUL"), and psycopg
cannot encode lone surrogates (Python's `email` package turns undecodable header bytes into
surrogate escapes; a `charset=utf-16` part can decode to unpaired surrogates). Both are
properties of the message, so they must never look like a database outage: every text value
taken from a message passes through `safe_text` (or `safe_json`) before it is saved. The raw
bytes are stored unchanged (bytea), so nothing is lost.
"""

from __future__ import annotations

import re

# Surrogate escapes of raw bytes 0x80-0xff (how the stdlib keeps undecodable bytes in a str).
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")
_UNSAFE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def _decode_escaped(match: re.Match[str]) -> str:
    """Escaped raw bytes back to text: most such headers are UTF-8 sent without RFC 2047."""
    raw = bytes(ord(char) - 0xDC00 for char in match.group())
    return raw.decode("utf-8", errors="replace")


def _unsafe(match: re.Match[str]) -> str:
    return "" if match.group() == "\x00" else REPLACEMENT


def safe_text(value: object, max_length: int | None = None) -> str:
    """`value` as text any column takes: surrogate-escaped bytes decoded (UTF-8, else U+FFFD),
    other lone surrogates replaced by U+FFFD, NUL removed, at most `max_length` characters."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if _UNSAFE.search(text):
        text = _UNSAFE.sub(_unsafe, _ESCAPED_BYTES.sub(_decode_escaped, text))
    if max_length is not None and len(text) > max_length:
        text = text[:max_length]
    return text


def safe_json(value: object) -> object:
    """A JSON-able value with every string in it (keys too) made safe by `safe_text`."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_json(key): safe_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [safe_json(item) for item in value]
    return value
