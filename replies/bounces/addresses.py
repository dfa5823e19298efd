"""Which addresses a bounce may name as failed: real mailbox addresses that are not ours.

A failed recipient comes from a structured field (a DSN's Original-/Final-Recipient, an ARF
report's Original-Rcpt-To, an ESP notification) or from a flufl.bounce detector; it is kept
only if it is a syntactically valid address (email-validator, no DNS), not a pipe or route
form (``|/usr/bin/...``, ``@relay:user@host``), and not one of ours: the sender address
(DEFAULT_FROM_EMAIL), anything at REPLY_DOMAIN (reply and VERP addresses), the bounce's own
recipients and senders (that is where *our* mail came from), and mail-system accounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.utils import parseaddr

from django.conf import settings
from email_validator import EmailNotValidError, validate_email

_SYSTEM_LOCAL_PARTS = re.compile(
    r"^(mailer-daemon|mail-daemon|maildaemon|postmaster|mail\.delivery\.system|mdaemon|noreply|no-reply"
    r"|bounces?|double-bounce|root|abuse|fbl|feedback)$",
    re.I,
)


def normalise(value: str) -> str:
    """The bare, lower-case address of a field value ("rfc822; <A@B.example>" -> "a@b.example"), or ""."""
    value = (value or "").strip()
    if ";" in value:
        kind, _, rest = value.partition(";")
        if "@" not in kind:
            value = rest.strip()
    value = value.strip().strip("<>").strip().strip("'\"").strip()
    if value.startswith("|") or value.startswith("@") or value.startswith("/"):
        return ""  # pipe, route or file forms are never a subscriber's address
    if "<" in value:
        value = parseaddr(value)[1]
    value = value.strip().rstrip(".").lower()
    if not value or value.count("@") != 1:
        return ""
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return ""
    return checked.normalized.lower()


def our_domains() -> set[str]:
    return {settings.REPLY_DOMAIN.lower()}


def our_addresses() -> set[str]:
    found = set()
    for value in (settings.DEFAULT_FROM_EMAIL, getattr(settings, "SERVER_EMAIL", "")):
        address = parseaddr(value or "")[1].lower()
        if address:
            found.add(address)
    return found


class AddressFilter:
    """Keeps the addresses a bounce may name; ``exclude`` adds the bounce's own senders and recipients."""

    def __init__(self, exclude: Iterable[str] = ()) -> None:
        self.excluded = our_addresses() | {normalise(a) or a.lower() for a in exclude if a}
        self.domains = our_domains()

    def keep(self, value: str) -> str:
        address = normalise(value)
        if not address or address in self.excluded:
            return ""
        local, _, domain = address.rpartition("@")
        if _SYSTEM_LOCAL_PARTS.match(local):
            return ""
        if domain in self.domains or any(domain.endswith("." + d) for d in self.domains):
            return ""
        return address
