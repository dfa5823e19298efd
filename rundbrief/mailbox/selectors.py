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


def earlier_in_thread(*, in_reply_to: str, references: str) -> list[CapturedMail]:
    """Captured mails this one answers (In-Reply-To and References), oldest first.

    Replies that went to the inbound receiver are not captured here; our own mails in the
    same thread are, so a staff answer links back to the newsletter it follows.
    """
    message_ids = set(references.split()) | set(in_reply_to.split())
    if not message_ids:
        return []
    return list(
        CapturedMail.objects.defer("raw").filter(message_id__in=message_ids).order_by("created_at", "id")
    )
