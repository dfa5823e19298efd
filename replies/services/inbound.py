"""Storing inbound mail: durably, once, refusing what cannot be stored (then processing is queued).

Two kinds of failure, as in Zulip's email mirror: `RejectedMessage` is the sender's
fault (empty, unreadable, too large: a permanent refusal), `StorageUnavailable` is
ours (the database is down: a temporary refusal, so the sending MTA retries).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Sequence
from email.parser import BytesHeaderParser

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from replies.models import InboundMessage
from replies.parsing import POLICY, safe_header
from replies.services.drains import schedule_drain

logger = logging.getLogger(__name__)


class InboundError(Exception):
    """Base of everything store_inbound refuses."""


class RejectedMessage(InboundError):
    """The sender's fault: do not retry (SMTP 5xx, exit code 65 for the pipe)."""


class MessageTooLarge(RejectedMessage):
    pass


class StorageUnavailable(InboundError):
    """Our fault, probably temporary: the sender should retry (SMTP 451, exit code 75 for the pipe)."""


def dedupe_key(raw: bytes, message_id: str) -> str:
    """Message-ID plus a hash of the content below the headers.

    Headers are left out because each hop adds its own Received/Delivered-To lines: the
    same message arriving by two routes (or retried by an MTA) is still recognised.
    Line endings are normalised for the same reason. Without a Message-ID the whole
    message counts.
    """
    if not message_id:
        return hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()
    normalised = raw.replace(b"\r\n", b"\n")
    _, _, body = normalised.partition(b"\n\n")
    content = hashlib.sha256(body).hexdigest()
    return hashlib.sha256(f"{message_id}\n{content}".encode()).hexdigest()


def store_inbound(
    raw: bytes, *, source: str, envelope_from: str = "", envelope_to: Sequence[str] = ()
) -> InboundMessage:
    """Store the raw message durably (once), then enqueue its processing after the commit.

    Returns the stored row, or the earlier row when this message was stored before
    (`duplicate` is then True on the returned instance).
    """
    if not raw or not raw.strip():
        raise RejectedMessage(_("The message is empty."))
    limit = settings.INBOUND_MAX_MESSAGE_BYTES
    if len(raw) > limit:
        raise MessageTooLarge(
            _("The message is %(size)d bytes; the limit is %(limit)d bytes.")
            % {"size": len(raw), "limit": limit}
        )
    headers = BytesHeaderParser(policy=POLICY).parsebytes(raw)
    if not headers.keys():
        raise RejectedMessage(_("This is not an email message: it has no header fields."))
    message_id = safe_header(headers, "Message-ID")[:998]
    key = dedupe_key(raw, message_id)
    try:
        try:
            with _own_savepoint():
                inbound = InboundMessage.objects.create(
                    raw=raw,
                    size=len(raw),
                    source=source,
                    envelope_from=envelope_from[:998],
                    envelope_to=list(envelope_to),
                    message_id=message_id,
                    dedupe_key=key,
                    from_address=safe_header(headers, "From")[:998],
                    subject=safe_header(headers, "Subject")[:998],
                )
        except IntegrityError:
            inbound = InboundMessage.objects.get(dedupe_key=key)
            inbound.duplicate = True
            logger.info("inbound message %s is a duplicate of #%s", message_id, inbound.pk)
            return inbound
    except DatabaseError as exc:
        raise StorageUnavailable(str(exc)) from exc
    inbound.duplicate = False
    transaction.on_commit(schedule_drain)
    return inbound


def _own_savepoint() -> contextlib.AbstractContextManager:
    """A savepoint inside a caller's transaction, so a duplicate does not break it.

    Outside one (the receivers), the INSERT runs in autocommit mode: one statement,
    committed synchronously, instead of BEGIN, INSERT and COMMIT round trips.
    """
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
