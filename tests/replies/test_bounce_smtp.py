"""A campaign sent over real SMTP to a sink that bounces some recipients later, asynchronously,
to the mail's VERP return path, through Rundbrief's own inbound receiver (replies/smtp.py), as
a remote MTA does: exactly those recipients are suppressed, and nobody else."""

from __future__ import annotations

import smtplib
import threading

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth.models import Group, Permission, User

from campaigns import services as campaign_services
from campaigns.models import Delivery
from campaigns.services import save_campaign
from replies.models import InboundMessage
from replies.smtp import InboundController, InboundHandler
from rundbrief.mail.addresses import verp
from subscribers.models import Bounce, Subscriber, Subscription, Suppression, Topic, email_hash
from tests.support import free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

BOUNCING = {"gone@example.org": "5.1.1", "full@example.org": "4.2.2", "moved@example.org": "5.1.6"}


def report(*, return_path: str, recipient: str, status: str, original: bytes) -> bytes:
    action = "failed" if status.startswith("5") else "delayed"
    headers = original.split(b"\r\n\r\n", 1)[0].decode()
    return (
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
        f"To: {return_path}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <bounce-{recipient}@mx.example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        f"--R\r\nContent-Type: text/plain\r\n\r\n<{recipient}>: {status} could not deliver\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        "--R\r\nContent-Type: text/rfc822-headers\r\n\r\n" + headers + "\r\n--R--\r\n"
    ).encode()


class BouncingSink:
    """Accepts every mail; for some recipients it sends a DSN to the envelope sender afterwards."""

    def __init__(self, inbound_port: int) -> None:
        self.inbound_port = inbound_port
        self.accepted: list[tuple[str, str]] = []
        self.threads: list[threading.Thread] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        for rcpt in envelope.rcpt_tos:
            self.accepted.append((envelope.mail_from, rcpt))
            if rcpt in BOUNCING:
                raw = report(
                    return_path=envelope.mail_from,
                    recipient=rcpt,
                    status=BOUNCING[rcpt],
                    original=envelope.content,
                )
                # Later, from another connection: the way a remote MTA returns mail.
                thread = threading.Timer(0.2, self.bounce, (envelope.mail_from, raw))
                thread.start()
                self.threads.append(thread)
        return "250 OK"

    def bounce(self, return_path: str, raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", self.inbound_port) as client:
            client.sendmail("", [return_path], raw)


@pytest.fixture
def receiver():
    port = free_port()
    controller = InboundController(InboundHandler(), host="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def test_exactly_the_recipients_that_bounced_are_suppressed(settings, receiver):
    sink = BouncingSink(receiver)
    outgoing = Controller(sink, hostname="127.0.0.1", port=free_port())
    outgoing.start()
    try:
        settings.EMAIL_DELIVERY = "smtp"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", outgoing.port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = False
        owner = User.objects.create_user("owner", "owner@example.org", "pw")
        marketer = User.objects.create_user("mia", "mia@example.org", "pw")
        group, _ = Group.objects.get_or_create(name="Marketers")
        group.permissions.add(*Permission.objects.filter(content_type__app_label="campaigns"))
        marketer.groups.add(group)
        topic = Topic.objects.create(slug="news", name="News", owner=owner)
        addresses = ["ok@example.org", "fine@example.org", *BOUNCING]
        for address in addresses:
            subscriber = Subscriber.objects.create(
                email=address, email_hash=email_hash(address), status="confirmed"
            )
            Subscription.objects.create(subscriber=subscriber, topic=topic, status="active")
        campaign = save_campaign(
            name="Herbst",
            topics=[topic],
            subject="Neues",
            preheader="",
            from_name="Rundbrief",
            mjml_body="<mj-section><mj-column><mj-text>Hallo</mj-text></mj-column></mj-section>",
            user=marketer,
        )
        campaign_services.launch_campaign(campaign=campaign)

        assert {rcpt for _sender, rcpt in sink.accepted} == set(addresses)
        for sender, rcpt in sink.accepted:  # every mail went out with its own VERP return path
            delivery = Delivery.objects.get(subscriber__email=rcpt)
            assert sender == verp().address(delivery.reply_token)

        wait_for(
            lambda: (
                InboundMessage.objects.filter(status=InboundMessage.Status.PROCESSED).count() == len(BOUNCING)
            ),
            timeout=30,
            what="the bounces stored and processed",
        )
    finally:
        for thread in sink.threads:
            thread.join()
        outgoing.stop()

    assert set(InboundMessage.objects.values_list("kind", flat=True)) == {InboundMessage.Kind.BOUNCE}
    assert set(InboundMessage.objects.values_list("match_method", flat=True)) == {
        InboundMessage.MatchMethod.VERP
    }
    permanent = {a for a, status in BOUNCING.items() if status.startswith("5")}
    assert set(Suppression.objects.values_list("email_hash", flat=True)) == {email_hash(a) for a in permanent}
    assert (
        set(Delivery.objects.filter(status="bounced").values_list("subscriber__email", flat=True))
        == permanent
    )
    full = Bounce.objects.get(address="full@example.org")
    assert (full.permanent, full.reason, full.suppressed) == (False, "mailbox_full", False)
    assert set(Bounce.objects.values_list("match", flat=True)) == {"verp"}
