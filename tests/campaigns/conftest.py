"""Campaign fixtures: topics, confirmed subscribers, a campaign, and a real SMTP sink."""

from __future__ import annotations

import collections
import email
import email.policy
import threading

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth.models import Group, Permission, User

from campaigns.services import save_campaign
from subscribers.models import Subscriber, Subscription, Topic, email_hash
from tests.support import free_port

BODY = """<mj-section>
  <mj-column>
    <mj-text>Hallo {{ subscriber.name|default:"du" }}, das ist {{ campaign.name }}.</mj-text>
  </mj-column>
</mj-section>"""


def make_subscriber(
    address: str, topic: Topic, *, status: str = Subscriber.Status.CONFIRMED, sub_status: str = "active", **kw
) -> Subscriber:
    subscriber = Subscriber.objects.create(email=address, email_hash=email_hash(address), status=status, **kw)
    Subscription.objects.create(subscriber=subscriber, topic=topic, status=sub_status)
    return subscriber


@pytest.fixture
def owner(db) -> User:
    return User.objects.create_user("anna", "anna@example.org", "pw", first_name="Anna", last_name="Ansprech")


@pytest.fixture
def topic(owner) -> Topic:
    return Topic.objects.create(slug="news", name="News", owner=owner)


@pytest.fixture
def marketer(db) -> User:
    user = User.objects.create_user("mia", "mia@example.org", "pw")
    # get_or_create: transactional tests flush the group the data migration made.
    group, _ = Group.objects.get_or_create(name="Marketers")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="campaigns"))
    user.groups.add(group)
    return user


@pytest.fixture
def client_marketer(client, marketer, settings):
    """A marketer logged in; the mails the views send land in the local mailbox (CapturedMail)."""
    settings.EMAIL_DELIVERY = "mailbox"
    client.force_login(marketer)
    return client


@pytest.fixture
def campaign(topic, marketer):
    return save_campaign(
        name="Herbst",
        topics=[topic],
        subject="Neues im Herbst",
        preheader="Kurz",
        from_name="Rundbrief",
        mjml_body=BODY,
        user=marketer,
    )


class CountingHandler:
    """Counts accepted messages per recipient; keeps the parsed messages."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.messages: list[email.message.Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.counts[rcpt.lower()] += 1
            self.messages.append(
                email.message_from_bytes(
                    envelope.original_content or envelope.content, policy=email.policy.default
                )
            )
        return "250 OK"


@pytest.fixture
def smtp_sink():
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_sink):
    controller, handler = smtp_sink
    settings.EMAIL_DELIVERY = "smtp"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    return handler
