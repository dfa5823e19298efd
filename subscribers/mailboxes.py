"""Which addresses end up in the same mailbox: the key for throttling confirmation mails.

`ada+news@example.org` and `ada+shop@example.org` are two addresses (two subscribers, each
confirms for itself) but one mailbox, so one person's inbox. To stop anyone from bombing
that inbox with confirmation mails through address variants, the throttle counts per
mailbox. The rules, and why they are safe to apply:

- Subaddressing (RFC 5233): everything from the first `+` in the local part is a tag. It is
  the default of Postfix, Exim, Sendmail, Gmail, Outlook.com, iCloud, Fastmail and Proton;
  a provider that treats `+` literally merely shares a throttle between two addresses
  (a delay, never a lost mail).
- Gmail (`gmail.com`, `googlemail.com`, one mailbox for both): dots in the local part are
  ignored, as Google documents.

Not applied: Yahoo's `-` disposable addresses (hyphens are common in real local parts
everywhere else) and providers' custom domains (not knowable from the address).
"""

from __future__ import annotations

import hashlib

from subscribers.models import normalise_email

GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}


def mailbox_of(email: str) -> str:
    """The normalised mailbox an address delivers to (lower case, no tag, Gmail without dots)."""
    local, _at, domain = normalise_email(email).rpartition("@")
    if not _at:
        return normalise_email(email)
    local = local.split("+", 1)[0] or local
    if domain in GMAIL_DOMAINS:
        domain = "gmail.com"
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def mailbox_hash(email: str) -> str:
    """Stored on the subscriber (like the address hash), so the throttle is one indexed query."""
    return hashlib.sha256(mailbox_of(email).encode()).hexdigest()
