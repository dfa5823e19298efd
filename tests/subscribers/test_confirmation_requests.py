"""A confirmation link is valid only for the opt-in request it was sent for.

The attack from the issue: a confirmation link (valid 7 days) outlives an unsubscribe; when a
stranger signs the address up again, the old link confirmed the stranger's request and lifted
the suppression the subscriber's opt-out had put in place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from subscribers import services, tokens
from subscribers.models import ConsentEvent, Subscriber, Suppression

from .conftest import link_from

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    with time_machine.travel(datetime(2026, 5, 4, 8, 0, tzinfo=UTC), tick=False) as traveller:
        yield traveller


def signup(topics, consent, slugs=("news",), email="max@example.org"):
    services.request_subscription(
        email=email, topics=[topics[s] for s in slugs], source=ConsentEvent.Source.FORM, consent=consent
    )


def test_an_old_link_cannot_confirm_a_strangers_new_signup(
    clock, client, topics, consent, commit_hooks, mailoutbox
):
    with commit_hooks():
        signup(topics, consent)
    old_link = link_from(mailoutbox[0], "/confirm/")
    client.post(old_link)
    subscriber = Subscriber.objects.get()
    services.unsubscribe(subscriber=subscriber, source=ConsentEvent.Source.ONE_CLICK)
    assert Suppression.objects.filter(email_hash=subscriber.email_hash).exists()

    clock.shift(timedelta(days=2))
    with commit_hooks():
        signup(topics, consent)  # a stranger types the address into the form
    page = client.get(old_link)
    assert "This link belongs to an earlier request" in page.content.decode()
    response = client.post(old_link)
    assert "This link belongs to an earlier request" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert Suppression.objects.filter(email_hash=subscriber.email_hash).exists()
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONFIRMED).count() == 1

    # The mail sent for the new request confirms it (the owner's fresh consent lifts the opt-out).
    assert len(mailoutbox) == 2
    client.post(link_from(mailoutbox[1], "/confirm/"))
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert not Suppression.objects.exists()


def test_an_old_link_cannot_lift_a_later_complaint(clock, client, topics, consent, commit_hooks, mailoutbox):
    with commit_hooks():
        signup(topics, consent)
    clock.shift(timedelta(hours=1))
    services.suppress_address(
        email="max@example.org", reason="complaint", source=ConsentEvent.Source.ESP_EVENT
    )
    clock.shift(timedelta(hours=1))
    response = client.post(link_from(mailoutbox[0], "/confirm/"))
    assert "This link belongs to an earlier request" in response.content.decode()
    assert Suppression.objects.get().reason == "complaint"
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING


def test_a_repeated_request_keeps_the_first_link_valid(
    clock, client, topics, consent, commit_hooks, mailoutbox
):
    """Asking again for the same waiting topics is the same request: both mails' links work."""
    with commit_hooks():
        signup(topics, consent)
    clock.shift(timedelta(minutes=30))
    with commit_hooks():
        services.resend_confirmation(subscriber=Subscriber.objects.get())
    assert len(mailoutbox) == 2
    client.post(link_from(mailoutbox[0], "/confirm/"))
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED


def test_a_link_signed_before_the_request_mark_existed_still_works_for_its_request(
    clock, client, topics, consent, make_subscriber
):
    subscriber = make_subscriber(status=Subscriber.Status.PENDING, topic_slugs=("news",))
    legacy = tokens.make_token(tokens.CONFIRM, subscriber.pk, ["news"])  # no "r": sent by the old code
    assert client.post(f"/confirm/{legacy}/").status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED


def test_a_legacy_link_cannot_confirm_a_later_request(clock, client, topics, consent, make_subscriber):
    subscriber = make_subscriber(status=Subscriber.Status.PENDING, topic_slugs=("news",))
    legacy = tokens.make_token(tokens.CONFIRM, subscriber.pk, ["news"])
    services.unsubscribe(subscriber=subscriber, source=ConsentEvent.Source.LINK)
    clock.shift(timedelta(days=1))
    signup(topics, consent, email=subscriber.email)
    client.post(f"/confirm/{legacy}/")
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
