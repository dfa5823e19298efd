from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.core.mail import EmailMultiAlternatives

from rundbrief.mailbox.models import CapturedMail
from tests.support import free_port


@pytest.fixture(autouse=True)
def _local_run(settings):
    # Django's test setup swaps in the locmem backend; the mailbox pages read the database.
    settings.EMAIL_BACKEND = "rundbrief.mailbox.backend.MailboxBackend"
    settings.DEBUG = True  # as in `make run`; see test_access for the other case


@dataclass
class RecordingHandler:
    """A real SMTP listener that keeps what it receives (or refuses recipients, if told to)."""

    refuse_with: str = ""
    envelopes: list = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_with:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_receiver(settings):
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.INBOUND_SMTP_HOST = "127.0.0.1"
    settings.INBOUND_SMTP_PORT = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def newsletter(db) -> CapturedMail:
    """A campaign-like mail as our backend captures it: HTML + text, Reply-To, threading headers."""
    message = EmailMultiAlternatives(
        subject="Neuigkeiten für dich",
        body="Hallo Lena,\n\nhier ist der Rundbrief.\nBestätigen: http://127.0.0.1:8000/confirm/abc/\n",
        from_email="Rundbrief <newsletter@localhost>",
        to=["lena@example.org"],
        reply_to=["reply+0123456789abcdef0123456789abcdef@reply.localhost"],
        headers={"Message-ID": "<campaign-1.delivery-7@rundbrief.localhost>", "References": "<earlier@x>"},
    )
    message.attach_alternative(
        '<html><head><title>x</title></head><body><a href="http://127.0.0.1:8000/confirm/abc/">Confirm</a>'
        "</body></html>",
        "text/html",
    )
    message.send()
    return CapturedMail.objects.get(message_id="<campaign-1.delivery-7@rundbrief.localhost>")


def as_email(envelope) -> EmailMessage:
    import email
    from email import policy

    return email.message_from_bytes(envelope.original_content, policy=policy.default)
