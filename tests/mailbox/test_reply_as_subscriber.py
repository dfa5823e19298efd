"""'Reply as the subscriber' against a real SMTP listener (aiosmtpd) on a free port."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.mailbox.conftest import RecordingHandler, as_email

pytestmark = pytest.mark.django_db

REPLY_ADDRESS = "reply+0123456789abcdef0123456789abcdef@reply.localhost"


def test_form_is_prefilled_with_the_quoted_original(client, newsletter):
    response = client.get(reverse("mailbox:reply", args=[newsletter.pk]))
    initial = response.context["form"]["body"].value()
    assert "wrote:" in initial and "Rundbrief <newsletter@localhost>" in initial
    assert "> Hallo Lena," in initial and "> hier ist der Rundbrief." in initial


def test_reply_is_a_real_threaded_mail_delivered_over_smtp(
    client, newsletter, smtp_receiver: RecordingHandler
):
    body = client.get(reverse("mailbox:reply", args=[newsletter.pk])).context["form"]["body"].value()
    response = client.post(
        reverse("mailbox:reply", args=[newsletter.pk]), {"body": "Danke, gern mehr davon!" + body}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("mailbox:detail", args=[newsletter.pk])

    (envelope,) = smtp_receiver.envelopes
    assert envelope.mail_from == "lena@example.org"
    assert envelope.rcpt_tos == [REPLY_ADDRESS]
    reply = as_email(envelope)
    assert reply["From"] == "lena@example.org"
    assert reply["To"] == REPLY_ADDRESS
    assert reply["Subject"] == "Re: Neuigkeiten für dich"
    assert reply["In-Reply-To"] == "<campaign-1.delivery-7@rundbrief.localhost>"
    assert reply["References"].split() == ["<earlier@x>", "<campaign-1.delivery-7@rundbrief.localhost>"]
    assert reply["Message-ID"].endswith("@example.org>")
    assert reply["Date"]
    text = reply.get_content().replace("\r\n", "\n")  # SMTP line endings
    assert text.startswith("Danke, gern mehr davon!")
    assert "wrote:\n> Hallo Lena," in text
    assert reply.get_content_type() == "text/plain"


def test_re_is_not_doubled(client, smtp_receiver, db):
    from django.core.mail import EmailMessage

    EmailMessage("Re: Deine Frage", "Antwort", "anna@rundbrief.localhost", ["lena@example.org"]).send()
    from rundbrief.mailbox.models import CapturedMail

    mail = CapturedMail.objects.get()
    client.post(reverse("mailbox:reply", args=[mail.pk]), {"body": "Ok"})
    assert as_email(smtp_receiver.envelopes[0])["Subject"] == "Re: Deine Frage"
    # Without Reply-To the answer goes to From.
    assert smtp_receiver.envelopes[0].rcpt_tos == ["anna@rundbrief.localhost"]


def test_unreachable_receiver_is_a_clear_error_and_keeps_the_text(client, newsletter, settings):
    from tests.support import free_port

    settings.INBOUND_SMTP_PORT = free_port()  # nobody listens there
    response = client.post(reverse("mailbox:reply", args=[newsletter.pk]), {"body": "Bitte nicht verlieren"})
    assert response.status_code == 200
    (message,) = [str(m) for m in response.context["messages"]]
    assert f"127.0.0.1:{settings.INBOUND_SMTP_PORT} is not reachable" in message
    assert "Bitte nicht verlieren" in response.content.decode()


def test_refused_recipient_is_reported_with_the_receivers_answer(client, newsletter, smtp_receiver):
    smtp_receiver.refuse_with = "550 5.1.1 Unknown reply address"
    response = client.post(reverse("mailbox:reply", args=[newsletter.pk]), {"body": "Hallo?"})
    assert response.status_code == 200
    (message,) = [str(m) for m in response.context["messages"]]
    assert "refused the recipient" in message and "Unknown reply address" in message


def test_empty_reply_is_rejected(client, newsletter, smtp_receiver):
    response = client.post(reverse("mailbox:reply", args=[newsletter.pk]), {"body": "   "})
    assert response.status_code == 200
    assert "Write a reply first." in response.content.decode()
    assert smtp_receiver.envelopes == []
