"""Reads for the local mailbox pages."""

from __future__ import annotations

from django.db.models import QuerySet

from rundbrief.mailbox.models import CapturedMail


def captured_mails(*, recipient: str = "") -> QuerySet[CapturedMail]:
    """Newest first; with a recipient, only mail whose recipients contain that text."""
    mails = CapturedMail.objects.defer("raw").order_by("-created_at", "-id")
    if recipient.strip():
        # JSON text match: works on SQLite and PostgreSQL alike, and finds partial addresses.
        mails = mails.filter(recipients__icontains=recipient.strip())
    return mails


def mail_by_message_id(message_id: str) -> CapturedMail | None:
    if not message_id.strip():
        return None
    return CapturedMail.objects.defer("raw").filter(message_id=message_id.strip()).first()
