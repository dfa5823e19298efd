"""An email backend for the local default: stores every outgoing message in the database.

The database (not memory, not files) is used so that mail sent by a Celery worker is
visible to the web process at /dev/mailbox/.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.header import decode_header, make_header

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from rundbrief.mailbox.models import CapturedMail


def decoded_header(value: str) -> str:
    """'=?utf-8?q?Bitte_best=C3=A4tigen?=' -> 'Bitte bestätigen' (RFC 2047), for listing."""
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeDecodeError, ValueError):
        return value


def capture_raw(
    raw: bytes, *, sender: str, recipients: list[str], subject: str = "", message_id: str = ""
) -> None:
    """Capture an already-serialised message (the campaign message factory builds raw bytes itself)."""
    CapturedMail.objects.create(
        raw=raw,
        sender=sender,
        recipients=recipients,
        subject=decoded_header(subject)[:998],
        message_id=message_id,
    )


class MailboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        captured = []
        for message in email_messages:
            recipients = message.recipients()
            if not recipients:
                continue
            mime = message.message()
            captured.append(
                CapturedMail(
                    raw=mime.as_bytes(linesep="\r\n"),
                    sender=message.from_email,
                    recipients=recipients,
                    subject=decoded_header(str(mime.get("Subject", "")))[:998],
                    message_id=str(mime.get("Message-ID", "")),
                )
            )
        CapturedMail.objects.bulk_create(captured)
        return len(captured)
