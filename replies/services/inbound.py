"""Storing inbound mail: durably, once, refusing what cannot be stored (then processing is queued).

Two kinds of failure, as in Zulip's email mirror: `RejectedMessage` is the sender's
fault (empty, unreadable, too large: a permanent refusal), `StorageUnavailable` is
ours (the database is down: a temporary refusal, so the sending MTA retries).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Sequence
from email.message import Message
from email.parser import BytesHeaderParser

import psycopg
from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from replies.models import InboundMessage
from replies.parsing import POLICY, safe_header
from replies.services.drains import schedule_drain
from rundbrief.mail.text import safe_json, safe_text

logger = logging.getLogger(__name__)


class InboundError(Exception):
    """Base of everything store_inbound refuses."""


class RejectedMessage(InboundError):
    """The sender's fault: do not retry (SMTP 5xx, exit code 65 for the pipe)."""


class MessageTooLarge(RejectedMessage):
    pass


class StorageUnavailable(InboundError):
    """Our fault, probably temporary: the sender should retry (SMTP 451, exit code 75 for the pipe)."""


# The header fields a message is made of, as its author wrote them: two messages that differ
# in any of them are two messages. Trace fields (Received, Delivered-To, Return-Path, DKIM
# and ARC seals ...) are left out, since every hop adds its own: the same message arriving
# by two routes, or retried by an MTA, is still recognised.
STABLE_FIELDS = (
    "message-id",
    "date",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
)
_STABLE = frozenset(name.encode() for name in STABLE_FIELDS)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# How the stdlib parser recognises a header line (headerRE in email.feedparser).
_HEADER_LINE = re.compile(rb"^(From |[\041-\071\073-\176]*:|[\t ])")
_FIELD_NAME = re.compile(rb"^([\041-\071\073-\176]+)[ \t]*:(.*)$", re.S)
_SPACE = re.compile(rb"\s+")
_KEY_VERSION = b"rundbrief inbound dedupe 2\n"


def split_message(raw: bytes) -> tuple[bytes, memoryview]:
    """The header block and (a view of, not a copy of) the body of a raw message, unparsed."""
    blank = _BLANK_LINE.search(raw)
    if blank is None:
        return raw, memoryview(b"")
    return raw[: blank.start()], memoryview(raw)[blank.end() :]


_HASH_CHUNK = 1 << 20


def _body_digest(body: memoryview) -> bytes:
    """SHA-256 of the body with CRLF made LF, a megabyte at a time (no copy of a 25 MB body)."""
    digest = hashlib.sha256()
    carry = b""
    for start in range(0, len(body), _HASH_CHUNK):
        piece = carry + bytes(body[start : start + _HASH_CHUNK])
        carry = b""
        if piece.endswith(b"\r"):  # its LF may start the next piece
            piece, carry = piece[:-1], b"\r"
        digest.update(piece.replace(b"\r\n", b"\n"))
    digest.update(carry)
    return digest.digest()


def dedupe_key(raw: bytes) -> str:
    """SHA-256 over the message's stable header fields (STABLE_FIELDS, whitespace and line
    endings normalised) and its whole body: the key covers the message, so two different
    messages that share a Message-ID and a body (another From or Subject) are both stored."""
    head, body = split_message(raw)
    digest = hashlib.sha256(_KEY_VERSION)
    for name, value in _stable_fields(head):
        digest.update(name + b":" + value + b"\n")
    digest.update(b"\n")
    digest.update(_body_digest(body))
    return digest.hexdigest()


def _stable_fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """(lower-case name, value with runs of white space made one space) of the stable fields, in order."""
    fields: list[tuple[bytes, list[bytes]]] = []
    continuing = False
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t"):
            if continuing:
                fields[-1][1].append(line)
            continue
        match = _FIELD_NAME.match(line)
        continuing = bool(match) and match.group(1).lower() in _STABLE
        if continuing:
            fields.append((match.group(1).lower(), [match.group(2)]))
    return [(name, _SPACE.sub(b" ", b" ".join(parts)).strip()) for name, parts in fields]


def content_key(message: Message) -> str:
    """A dedupe key from a parsed message, for channels that hand over a message object
    (ESP inbound webhooks): stable header fields and each leaf part's type, filename and
    decoded content. Serialising the object (`as_bytes()`) makes new MIME boundaries each
    time, so a replayed webhook would otherwise be stored, and answered, twice."""
    digest = hashlib.sha256(_KEY_VERSION + b"parsed\n")
    for name in STABLE_FIELDS:
        if name in ("content-type", "content-transfer-encoding"):
            continue  # carry the boundary and the encoding the serialiser chooses
        for value in message.get_all(name) or ():
            digest.update(f"{name}:{' '.join(str(value).split())}\n".encode("utf-8", "surrogateescape"))
    try:
        parts = [part for part in message.walk() if not part.is_multipart()]
    except RecursionError:  # absurdly deep nesting: the body as the parser holds it
        parts = []
        digest.update(str(message.get_payload()).encode("utf-8", "surrogateescape"))
    for part in parts:
        payload = part.get_payload(decode=True) or b""
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogateescape")
        label = f"\n{part.get_content_type()}\n{part.get_filename() or ''}\n"
        digest.update(label.encode("utf-8", "surrogateescape"))
        digest.update(hashlib.sha256(payload.replace(b"\r\n", b"\n")).digest())
    return digest.hexdigest()


def store_inbound(
    raw: bytes,
    *,
    source: str,
    envelope_from: str = "",
    envelope_to: Sequence[str] = (),
    key: str | None = None,
) -> InboundMessage:
    """Store the raw message durably (once), then enqueue its processing after the commit.

    Returns the stored row, or the earlier row when this message was stored before
    (`duplicate` is then True on the returned instance). `key` replaces the dedupe key made
    from the raw bytes (see content_key). What the message holds never makes this a
    temporary failure: its text values are made safe for their columns (NUL, lone
    surrogates, length), and if a column still refuses one, the raw bytes are stored alone.
    """
    if not raw or raw.isspace():
        raise RejectedMessage(_("The message is empty."))
    limit = settings.INBOUND_MAX_MESSAGE_BYTES
    if len(raw) > limit:
        raise MessageTooLarge(
            _("The message is %(size)d bytes; the limit is %(limit)d bytes.")
            % {"size": len(raw), "limit": limit}
        )
    head, _body = split_message(raw)
    fields, has_headers = _header_fields(head)
    if not has_headers:
        raise RejectedMessage(_("This is not an email message: it has no header fields."))
    row = {
        "raw": raw,
        "size": len(raw),
        "source": source,
        "dedupe_key": key or dedupe_key(raw),
    }
    described = {
        **fields,
        "envelope_from": safe_text(envelope_from, 998),
        "envelope_to": safe_json([safe_text(address, 998) for address in envelope_to]),
    }
    try:
        try:
            inbound = _create(row, described)
        except IntegrityError:
            inbound = InboundMessage.objects.get(dedupe_key=row["dedupe_key"])
            inbound.duplicate = True
            logger.info("inbound message %s is a duplicate of #%s", fields["message_id"], inbound.pk)
            return inbound
    except DatabaseError as exc:
        raise StorageUnavailable(str(exc)) from exc
    inbound.duplicate = False
    transaction.on_commit(schedule_drain)
    return inbound


def _header_fields(head: bytes) -> tuple[dict[str, str], bool]:
    """Message-ID, From and Subject as safe text, and whether there is any header field at all
    (as the stdlib parser sees them); blank fields where the header block defeats the parser."""
    try:
        headers = BytesHeaderParser(policy=POLICY).parsebytes(head + b"\n\n")
        fields = {
            "message_id": safe_header(headers, "Message-ID")[:998],
            "from_address": safe_header(headers, "From")[:998],
            "subject": safe_header(headers, "Subject")[:998],
        }
        return fields, bool(headers.keys())
    except Exception:  # noqa: BLE001 - RecursionError, a parser bug: the raw bytes still get stored
        logger.exception("could not read the header fields of an inbound message; storing it without them")
        return {"message_id": "", "from_address": "", "subject": ""}, bool(_HEADER_LINE.match(head))


def _create(row: dict, described: dict) -> InboundMessage:
    """INSERT the row; if a column refuses a value taken from the message (a permanent property
    of the message, so never a reason to refuse it for now), INSERT the raw bytes alone."""
    try:
        with _own_savepoint():
            return _insert(row, described)
    except (DataError, ValueError, UnicodeError):
        logger.exception("inbound message: a header value does not fit its column; storing the raw bytes")
    with _own_savepoint():
        return _insert(row, {})


# Above this size the raw bytes go to PostgreSQL as a binary parameter. Django's psycopg
# cursors bind parameters on the client, as hex text inside the SQL: storing 25 MB took
# ~330 MB in `ingest_email` for a moment (the hex, the query around it, their copies).
BINARY_WRITE_BYTES = 1024 * 1024


def _insert(row: dict, described: dict) -> InboundMessage:
    raw = row["raw"]
    if connection.vendor != "postgresql" or len(raw) <= BINARY_WRITE_BYTES:
        return InboundMessage.objects.create(**row, **described)
    with transaction.atomic():  # the row and its bytes commit together, or neither
        inbound = InboundMessage.objects.create(**{**row, "raw": b""}, **described)
        connection.ensure_connection()
        # A server-binding cursor of the same connection (so the same transaction) sends the
        # bytes as they are (%b: binary format), not as hex text.
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(
                f"UPDATE {InboundMessage._meta.db_table} SET raw = %b WHERE id = %s",  # noqa: S608 - table name
                [raw, inbound.pk],
            )
    inbound.raw = raw
    return inbound


def _own_savepoint() -> contextlib.AbstractContextManager:
    """A savepoint inside a caller's transaction, so a duplicate does not break it.

    Outside one (the receivers), the INSERT runs in autocommit mode: one statement,
    committed synchronously, instead of BEGIN, INSERT and COMMIT round trips.
    """
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
