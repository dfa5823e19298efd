"""Message-IDs and header hygiene for every mail we send."""

from __future__ import annotations

import re
import secrets
from email.header import Header
from email.utils import parseaddr

from django.conf import settings


def clean_header(value: str) -> str:
    """No header injection through names or subjects: line breaks become spaces."""
    return re.sub(r"[\r\n]+", " ", value).strip()


def encode_header(value: str) -> str:
    """A cleaned header value, RFC 2047-encoded when it is not ASCII."""
    value = clean_header(value)
    return value if value.isascii() else Header(value, "utf-8").encode()


def sender_address() -> str:
    """The address of DEFAULT_FROM_EMAIL (our mail's From and envelope sender)."""
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def message_domain() -> str:
    """The right-hand side of our Message-IDs: the sender's domain, else the reply domain."""
    return sender_address().rpartition("@")[2] or settings.REPLY_DOMAIN


def new_message_id() -> str:
    """Stored with the delivery or answer before the first attempt, so a retry carries the same one."""
    return f"<{secrets.token_hex(16)}@{message_domain()}>"
