"""Any anymail ESP (or whatever EMAIL_BACKEND Django is configured with), one connection per batch.

``send`` is one API call per mail, its acceptance recorded right after it. ``send_batch``
takes one message carrying merge_data/merge_headers for many recipients: used by the campaign
send loop when the ESP has inline merge fields and the campaign can be expressed with them;
the loop records those acceptances before the call.
"""

from __future__ import annotations

import contextlib
from email.utils import formataddr

from anymail.exceptions import AnymailError, AnymailRecipientsRefused
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection

from rundbrief.mail.headers import clean_header
from rundbrief.mail.refusals import PermanentSendError, classify, refused_by_esp
from rundbrief.mail.transports.base import OnAccepted, OutgoingMail, Transport


class ESPTransport(Transport):
    name = "esp"

    def __init__(self) -> None:
        self.connection = None

    def open(self) -> None:
        if self.connection is None:
            self.connection = get_connection(fail_silently=False)
            self.connection.open()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def send(self, mail: OutgoingMail, on_accepted: OnAccepted) -> None:
        self.open()
        message = EmailMultiAlternatives(
            subject=mail.subject,
            body=mail.text,
            from_email=mail.from_header,
            to=[formataddr((clean_header(mail.to_name), mail.to_address))],
            headers=mail.headers,
            connection=self.connection,
        )
        if mail.html:
            message.attach_alternative(mail.html, "text/html")
        status = _hand_over(message)
        if status is not None and refused_by_esp(status.status or ()):
            raise PermanentSendError(f"rejected by the ESP: {', '.join(sorted(status.status))}")
        esp_id = getattr(status, "message_id", None)
        on_accepted("" if esp_id is None else str(esp_id))

    def send_batch(self, message: EmailMultiAlternatives) -> dict:
        """One API call for many recipients (merge_data/merge_headers set by the caller).

        Returns anymail's per-recipient statuses ({email: AnymailRecipientStatus}); when
        the ESP refused every recipient, those statuses too (not an exception), so each
        recipient gets its own reason.
        """
        self.open()
        message.connection = self.connection
        with contextlib.suppress(AnymailRecipientsRefused):  # each recipient's status says why
            _hand_over(message, refused_raises=False)
        status = getattr(message, "anymail_status", None)
        return dict(status.recipients) if status is not None else {}


def _hand_over(message: EmailMessage, *, refused_raises: bool = True):
    """Send through the configured backend, its errors read by classify(); returns anymail_status."""
    try:
        message.send()
    except (AnymailError, OSError) as exc:
        if isinstance(exc, AnymailRecipientsRefused) and not refused_raises:
            raise
        raise classify(exc) from exc
    return getattr(message, "anymail_status", None)


def send_message(message: EmailMessage) -> None:
    """One ready-made Django message through the configured backend (staff answers, notices).

    Raises a SendError read by classify() for anything the backend raised.
    """
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a refusal with its reason
        raise classify(exc) from exc
