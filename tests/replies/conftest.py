"""A small world for the reply tests: staff, a topic, a campaign and its deliveries.

The reply tokens and Message-IDs match the .eml fixtures in fixtures/emails/.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.test import TestCase

from campaigns.models import Campaign, Delivery
from replies.models import InboundMessage, StaffProfile
from replies.services import store_inbound
from subscribers.models import Subscriber, Subscription, Topic, email_hash
from tests.replies.groups import ensure_groups

FIXTURES = Path(__file__).parent / "fixtures" / "emails"

ANNA_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
JUERGEN_TOKEN = "b2c3d4e5f60718293a4b5c6d7e8f90a1"
BEN_TOKEN = "c3d4e5f60718293a4b5c6d7e8f90a1b2"


def eml(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def make_subscriber(email: str, name: str = "", language: str = "de", topics=()) -> Subscriber:
    subscriber = Subscriber.objects.create(
        email=email, email_hash=email_hash(email), name=name, language=language, status="confirmed"
    )
    for topic in topics:
        Subscription.objects.create(subscriber=subscriber, topic=topic, status="active")
    return subscriber


def make_staff(username: str, *, group: str = "Staff", email: str = "", **profile) -> User:
    ensure_groups()  # a transactional test's flush removes the migration's groups
    user = User.objects.create_user(username, email=email or f"{username}@staff.localhost", password="pw")
    user.groups.add(Group.objects.get(name=group))
    teams = profile.pop("teams", [])
    staff_profile = StaffProfile.objects.create(user=user, **profile)
    staff_profile.teams.set(teams)
    return User.objects.get(pk=user.pk)


@pytest.fixture
def world(db):
    class World:
        pass

    w = World()
    w.anna_staff = make_staff(
        "anna.berg", display_name="Anna Berg", signature="Anna Berg\nRedaktion Rundbrief"
    )
    w.topic_owner = make_staff("tom.owner", display_name="Tom Owner")
    w.topic = Topic.objects.create(slug="energie", name="Energie", owner=w.topic_owner)
    w.campaign = Campaign.objects.create(
        name="November",
        subject="Unser Rundbrief im November",
        mjml_body="<mjml></mjml>",
        contact=w.anna_staff,
    )
    w.campaign.topics.add(w.topic)
    w.anna = make_subscriber("anna@example.org", "Anna Beispiel", topics=[w.topic])
    w.juergen = make_subscriber("juergen.mueller@example.com", "Jürgen Müller", topics=[w.topic])
    w.ben = make_subscriber("ben@example.com", "Ben Sample", language="en", topics=[w.topic])
    w.deliveries = {}
    for n, (subscriber, token, local) in enumerate(
        [(w.anna, ANNA_TOKEN, "anna"), (w.juergen, JUERGEN_TOKEN, "juergen"), (w.ben, BEN_TOKEN, "ben")],
        start=1,
    ):
        w.deliveries[local] = Delivery.objects.create(
            campaign=w.campaign,
            subscriber=subscriber,
            status="sent",
            reply_token=token,
            message_id=f"<20261121100000.{n}.{local}@rundbrief.localhost>",
        )
    return w


def ingest(name_or_raw, **kwargs) -> InboundMessage:
    """Store and process (Celery is eager in tests, so storing processes too)."""
    raw = eml(name_or_raw) if isinstance(name_or_raw, str) else name_or_raw
    # The test runs in a transaction: run the on-commit callbacks (processing, mails) as a commit would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        inbound = store_inbound(raw, source=kwargs.pop("source", InboundMessage.Source.PIPE), **kwargs)
    inbound.refresh_from_db()
    return inbound


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_undo_window(settings):
    """Answers go out at once (eager Celery has no countdown); the undo tests set a window."""
    settings.ANSWER_UNDO_SECONDS = 0


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def simple_reply_bytes(
    *,
    subject: str = "Re: Unser Rundbrief",
    body: str = "Eine Frage",
    to: str = "",
    headers: str = "X-Mailer: test",
) -> bytes:
    """A minimal reply from Anna, to her campaign reply address unless `to` says otherwise."""
    to = to or f"reply+{ANNA_TOKEN}@reply.localhost"
    msgid = hashlib.sha1(f"{subject}{body}{to}{headers}".encode()).hexdigest()
    return (
        f"From: Anna Beispiel <anna@example.org>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{msgid}@example.org>\r\n{headers}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()
