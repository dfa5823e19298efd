"""Reads on the subscriber side."""

from __future__ import annotations

from subscribers.models import Suppression, email_hash


def is_suppressed(email: str) -> bool:
    """True if the address must not be mailed (unsubscribed, erased, bounced, complained)."""
    return Suppression.objects.filter(email_hash=email_hash(email)).exists()
