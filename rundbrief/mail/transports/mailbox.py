"""The local default: mail is captured in the database and shown at /dev/mailbox/."""

from __future__ import annotations

from django.db import transaction

from rundbrief.mail.headers import sender_address
from rundbrief.mail.transports.base import OnAccepted, OutgoingMail, Transport
from rundbrief.mailbox.backend import capture_raw


class MailboxTransport(Transport):
    """The captured mail and the caller's record of its acceptance commit together."""

    name = "mailbox"

    def send(self, mail: OutgoingMail, on_accepted: OnAccepted) -> None:
        with transaction.atomic():
            capture_raw(
                mail.raw,
                sender=mail.return_path or sender_address(),
                recipients=[mail.to_address],
                subject=mail.subject,
                message_id=mail.message_id,
            )
            on_accepted("")
