"""A small world for the dialogue tests: a public topic, subscribers, a campaign sent for real
(launched, delivered to the local mailbox by the eager send task)."""

from __future__ import annotations

import email
import email.policy
import hashlib

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core import mail
from django.test import TestCase

from campaigns.models import Campaign, Delivery
from campaigns.services import launch_campaign, save_campaign
from replies.models import Conversation
from replies.services import store_inbound
from rundbrief.mailbox.models import CapturedMail
from subscribers.models import Subscriber, Subscription, Topic, email_hash
from tests.replies.conftest import make_staff

BODY = """<mj-section>
  <mj-column>
    <mj-text>Hallo {{ subscriber.name|default:"du" }}, das ist {{ campaign.name }}.</mj-text>
    <mj-text>Deine Adresse: {{ subscriber.email }}.</mj-text>
    <mj-text><a href="{{ preferences_url }}">Einstellungen</a></mj-text>
  </mj-column>
</mj-section>"""


def make_subscriber(address: str, topic: Topic, *, name: str = "", language: str = "de") -> Subscriber:
    subscriber = Subscriber.objects.create(
        email=address, email_hash=email_hash(address), name=name, language=language, status="confirmed"
    )
    Subscription.objects.create(subscriber=subscriber, topic=topic, status="active")
    return subscriber


def make_marketer(username: str = "mia", *, inbox: bool = False) -> User:
    user = User.objects.create_user(username, f"{username}@example.org", "pw")
    group, _ = Group.objects.get_or_create(name="Marketers")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="campaigns"))
    user.groups.add(group)
    return user


def send(campaign: Campaign) -> Campaign:
    with TestCase.captureOnCommitCallbacks(execute=True):
        campaign = launch_campaign(campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def mails_to(address: str) -> list[email.message.EmailMessage]:
    """Campaign mails (the local mailbox transport), then Django's mails (pytest-django's outbox)."""
    captured = [bytes(m.raw) for m in CapturedMail.objects.order_by("id") if address in m.recipients]
    # Staff answers address the subscriber by name ("Karla Meier <karla.meier@…>", issue 14).
    captured += [m.message().as_bytes() for m in mail.outbox if any(address in to for to in m.to)]
    return [email.message_from_bytes(raw, policy=email.policy.default) for raw in captured]


@pytest.fixture(autouse=True)
def _mailbox(settings):
    settings.EMAIL_DELIVERY = "mailbox"


@pytest.fixture(autouse=True)
def _answers_go_at_once(settings):
    """No undo window for staff answers here (eager tasks would re-run the send until it passed)."""
    settings.ANSWER_UNDO_SECONDS = 0


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def world(db):
    class World:
        pass

    w = World()
    w.anna = make_staff("anna.berg", display_name="Anna Berg")
    w.topic = Topic.objects.create(
        slug="energie", name="Energie", owner=w.anna, description="Strom und Wärme"
    )
    w.private_topic = Topic.objects.create(slug="intern", name="Intern", owner=w.anna, is_public=False)
    w.karla = make_subscriber("karla.meier@example.org", w.topic, name="Karla Meier")
    w.ben = make_subscriber("ben@example.com", w.topic, name="Ben Sample", language="en")
    w.marketer = make_marketer()
    w.campaign = save_campaign(
        name="November",
        topics=[w.topic],
        subject="Energie im November",
        preheader="Kurz und warm",
        from_name="Rundbrief",
        mjml_body=BODY,
        contact=w.anna,
        user=w.marketer,
    )
    return w


def reply(subscriber: Subscriber, campaign: Campaign, body: str, *, subject: str = "") -> Conversation:
    """The subscriber answers their campaign mail (through the real inbound pipeline)."""
    delivery = Delivery.objects.get(campaign=campaign, subscriber=subscriber)
    msgid = hashlib.sha1(f"{subscriber.pk}{body}".encode()).hexdigest()
    raw = (
        f"From: {subscriber.name} <{subscriber.email}>\r\n"
        f"To: reply+{delivery.reply_token}@reply.localhost\r\n"
        f"Subject: {subject or 'Re: ' + campaign.subject}\r\nMessage-ID: <{msgid}@example.org>\r\n"
        f"In-Reply-To: {delivery.message_id}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        store_inbound(raw, source="pipe")
    return Conversation.objects.get(subscriber=subscriber, campaign=campaign)
