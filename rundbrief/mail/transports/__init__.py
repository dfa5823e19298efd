"""The transports, one module per backend (as anymail's backends/<esp>.py beside backends/base.py).

- smtp     plain SMTP: rounds over several reused connections, the exactly-once point
- esp      any anymail ESP (Django's configured EMAIL_BACKEND): one API call per mail or batch
- mailbox  the local default: captured in the database, shown at /dev/mailbox/
"""

from __future__ import annotations

from django.conf import settings

from rundbrief.mail.transports.base import Transport
from rundbrief.mail.transports.esp import ESPTransport
from rundbrief.mail.transports.mailbox import MailboxTransport
from rundbrief.mail.transports.smtp import SMTPTransport


def transport_for_settings() -> Transport:
    """The transport EMAIL_DELIVERY names (settings: EMAIL_URL -> smtp, ANYMAIL_ESP -> esp, else mailbox)."""
    delivery = settings.EMAIL_DELIVERY
    if delivery == "smtp":
        return SMTPTransport()
    if delivery == "esp":
        return ESPTransport()
    return MailboxTransport()
