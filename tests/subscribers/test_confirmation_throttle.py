"""Confirmation mails: throttled per subscriber and per mailbox, delayed but never dropped.

Two attacks and one bug from the issue:
- toggling a topic off and on in the preference centre sent one confirmation mail per two POSTs;
- plus-address variants of one mailbox each got a mail;
- a topic added within the resend window stayed "Waiting for confirmation" forever: its mail
  was "throttled", and nothing ever sent it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from subscribers import services, tokens
from subscribers.mailboxes import mailbox_of
from subscribers.models import ConsentEvent, Subscriber
from subscribers.tasks import send_due_confirmations

from .conftest import link_from

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False) as traveller:
        yield traveller


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


def prefs_form(topic_ids):
    return {
        "topics": topic_ids,
        "frequency": "every",
        "paused_until": "",
        "format": "html",
        "name": "Ada",
        "language": "en",
    }


@pytest.mark.parametrize(
    ("address", "mailbox"),
    [
        ("Ada+news@Example.org", "ada@example.org"),
        ("a.d.a+x@googlemail.com", "ada@gmail.com"),
        ("A.D.A@gmail.com", "ada@gmail.com"),
        ("a.d.a@example.org", "a.d.a@example.org"),  # dots matter outside Gmail
        ("+only@example.org", "+only@example.org"),  # nothing before the tag: keep it whole
    ],
)
def test_mailbox_normalisation(address, mailbox):
    assert mailbox_of(address) == mailbox


def test_toggling_a_topic_in_the_preference_centre_does_not_bomb(
    clock, client, make_subscriber, topics, commit_hooks, mailoutbox
):
    subscriber = make_subscriber(topic_slugs=("news",))
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    with commit_hooks():
        for _ in range(10):
            client.post(prefs, prefs_form([topics["news"].pk, topics["jobs"].pk]))
            clock.shift(timedelta(seconds=1))
            client.post(prefs, prefs_form([topics["news"].pk]))
            clock.shift(timedelta(seconds=1))
        client.post(prefs, prefs_form([topics["news"].pk, topics["jobs"].pk]))
    assert len(mailoutbox) == 1
    subscriber.refresh_from_db()
    assert (
        subscriber.confirmation_due_at
        == subscriber.last_confirmation_sent_at + settings.CONFIRMATION_RESEND_WINDOW
    )
    page = client.get(prefs).content.decode()
    assert "We send at most one confirmation mail every 10 minutes" in page
    # The held-back mail goes out once the window has passed, and only once.
    clock.shift(settings.CONFIRMATION_RESEND_WINDOW)
    with commit_hooks():
        assert send_due_confirmations.delay().get() == 1
        assert send_due_confirmations.delay().get() == 0
    assert len(mailoutbox) == 2
    client.post(link_from(mailoutbox[1], "/confirm/"))
    assert subscriber.subscriptions.get(topic__slug="jobs").status == "active"


def test_plus_variants_of_one_mailbox_share_the_throttle(clock, topics, consent, commit_hooks, mailoutbox):
    with commit_hooks():
        for tag in range(5):
            services.request_subscription(
                email=f"victim+{tag}@gmail.com", topics=[topics["news"]], source="form", consent=consent
            )
        services.request_subscription(
            email="v.i.c.t.i.m@googlemail.com", topics=[topics["news"]], source="form", consent=consent
        )
        services.request_subscription(
            email="someone.else@gmail.com", topics=[topics["news"]], source="form", consent=consent
        )
    assert sorted(mail.to[0] for mail in mailoutbox) == ["someone.else@gmail.com", "victim+0@gmail.com"]
    details = list(ConsentEvent.objects.order_by("id").values_list("details__confirmation_mail", flat=True))
    assert details == ["sent", "delayed", "delayed", "delayed", "delayed", "delayed", "sent"]
    # Each variant is a subscriber of its own and gets its mail in time, one per window.
    for _ in range(5):
        clock.shift(settings.CONFIRMATION_RESEND_WINDOW)
        with commit_hooks():
            assert send_due_confirmations.delay().get() == 1
    assert len(mailoutbox) == 7
    assert Subscriber.objects.filter(confirmation_due_at__isnull=False).count() == 0


def test_a_topic_added_within_the_window_is_not_stuck_waiting(
    clock, client, topics, consent, commit_hooks, mailoutbox
):
    """The issue's reproduction: second signup within the window adds a topic; its mail was dropped."""
    with commit_hooks():
        services.request_subscription(
            email="max@example.org", topics=[topics["news"]], source="form", consent=consent
        )
    clock.shift(timedelta(minutes=2))
    with commit_hooks():
        services.request_subscription(
            email="max@example.org", topics=[topics["jobs"]], source="form", consent=consent
        )
    assert len(mailoutbox) == 1
    subscriber = Subscriber.objects.get()
    event = ConsentEvent.objects.filter(kind="requested").last()
    assert event.details["confirmation_mail"] == "delayed"
    assert event.details["confirmation_due_at"] == "2026-06-01T12:10:00+00:00"

    # The preference page says when it goes out and offers to send it again.
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    page = client.get(prefs).content.decode()
    assert "Waiting for your confirmation" in page
    assert "Send the confirmation again" in page
    with commit_hooks():
        response = client.post(prefs + "confirmation/", follow=True)
    assert "yours goes out at" in response.content.decode()
    assert len(mailoutbox) == 1

    clock.shift(timedelta(minutes=8))
    with commit_hooks():
        send_due_confirmations.delay().get()
    assert len(mailoutbox) == 2
    assert "Jobs" in mailoutbox[1].body and "News" in mailoutbox[1].body
    client.post(link_from(mailoutbox[1], "/confirm/"))
    assert set(subscriber.subscriptions.values_list("status", flat=True)) == {"active"}


def test_send_again_after_the_window_sends_at_once(clock, client, topics, consent, commit_hooks, mailoutbox):
    with commit_hooks():
        services.request_subscription(
            email="max@example.org", topics=[topics["news"]], source="form", consent=consent
        )
    clock.shift(timedelta(minutes=11))
    prefs = path_of(tokens.preferences_url(Subscriber.objects.get().pk))
    with commit_hooks():
        response = client.post(prefs + "confirmation/", follow=True)
    assert "We have sent you a mail to confirm." in response.content.decode()
    assert len(mailoutbox) == 2


def test_a_held_back_mail_for_topics_left_meanwhile_is_not_sent(
    clock, client, make_subscriber, topics, commit_hooks, mailoutbox
):
    subscriber = make_subscriber(topic_slugs=("news",))
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    for wanted in (["news", "jobs"], ["news"], ["news", "events"], ["news"]):
        with commit_hooks():
            client.post(prefs, prefs_form([topics[slug].pk for slug in wanted]))
        clock.shift(timedelta(seconds=1))
    subscriber.refresh_from_db()
    assert subscriber.confirmation_due_at is None
    clock.shift(timedelta(hours=1))
    with commit_hooks():
        assert send_due_confirmations.delay().get() == 0
    assert len(mailoutbox) == 1


def test_the_purge_keeps_a_subscriber_whose_mail_is_held_back(clock, topics, consent, make_subscriber):
    subscriber = make_subscriber("late@example.org", status=Subscriber.Status.PENDING)
    Subscriber.objects.filter(pk=subscriber.pk).update(
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        confirmation_due_at=datetime(2026, 6, 1, 12, 5, tzinfo=UTC),
    )
    assert services.purge_expired_pending() == 0


def test_due_confirmations_are_in_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["send-due-confirmations"]
    assert entry["task"] == send_due_confirmations.name
    assert entry["schedule"] <= timedelta(minutes=1)
