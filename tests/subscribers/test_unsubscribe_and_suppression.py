"""The cross-app contract: services.unsubscribe, services.suppress_address, selectors.is_suppressed."""

from __future__ import annotations

import pytest

from subscribers import selectors, services
from subscribers.models import ConsentEvent, Subscriber, Subscription, Suppression, email_hash

pytestmark = pytest.mark.django_db


def statuses(subscriber: Subscriber) -> dict[str, str]:
    return dict(subscriber.subscriptions.values_list("topic__slug", "status"))


def test_unsubscribe_from_everything(make_subscriber):
    subscriber = make_subscriber()
    services.unsubscribe(
        subscriber=subscriber,
        source=ConsentEvent.Source.ONE_CLICK,
        ip="192.0.2.1",
        user_agent="Mail/1.0",
        details={"campaign_id": 7},
    )
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.unsubscribed_at is not None
    assert set(statuses(subscriber).values()) == {Subscription.Status.UNSUBSCRIBED}
    assert Suppression.objects.get(email_hash=subscriber.email_hash).reason == Suppression.Reason.UNSUBSCRIBED
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBED)
    assert event.subscriber == subscriber
    assert event.topics == ["events", "news"]
    assert event.details == {"scope": "everything", "campaign_id": 7}
    assert event.ip_address == "192.0.2.1"
    assert event.user_agent == "Mail/1.0"
    assert selectors.is_suppressed("ADA@example.org ")


def test_unsubscribe_from_some_topics_keeps_the_rest(make_subscriber):
    subscriber = make_subscriber()
    services.unsubscribe(subscriber=subscriber, topic_slugs=["news"], source=ConsentEvent.Source.LINK)
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert statuses(subscriber) == {"news": "unsubscribed", "events": "active"}
    assert not selectors.is_suppressed(subscriber.email)
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBED)
    assert event.topics == ["news"]
    assert event.details == {"scope": "topics"}


def test_unsubscribe_is_idempotent(make_subscriber):
    subscriber = make_subscriber()
    for _ in range(3):
        services.unsubscribe(subscriber=subscriber, source=ConsentEvent.Source.ONE_CLICK)
        services.unsubscribe(subscriber=subscriber, topic_slugs=["news"], source=ConsentEvent.Source.LINK)
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.UNSUBSCRIBED).count() == 1
    assert Suppression.objects.count() == 1


def test_unsubscribe_rejects_unknown_source(make_subscriber):
    subscriber = make_subscriber()
    with pytest.raises(ValueError, match="unknown consent source"):
        services.unsubscribe(subscriber=subscriber, source="carrier-pigeon")
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED


def test_suppress_address_for_a_known_subscriber(make_subscriber):
    subscriber = make_subscriber()
    services.suppress_address(
        email=" Ada@Example.org",
        reason=Suppression.Reason.HARD_BOUNCE,
        source=ConsentEvent.Source.ESP_EVENT,
        details={"esp_event": "bounced"},
    )
    assert selectors.is_suppressed("ada@example.org")
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.SUPPRESSED)
    assert event.subscriber == subscriber
    assert event.details == {"reason": "hard_bounce", "esp_event": "bounced"}


def test_suppress_address_is_idempotent_and_keeps_the_latest_reason(make_subscriber):
    make_subscriber()
    for _ in range(2):
        services.suppress_address(
            email="ada@example.org",
            reason=Suppression.Reason.HARD_BOUNCE,
            source=ConsentEvent.Source.ESP_EVENT,
        )
    services.suppress_address(
        email="ada@example.org", reason=Suppression.Reason.COMPLAINT, source=ConsentEvent.Source.ESP_EVENT
    )
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.SUPPRESSED).count() == 2


def test_suppress_unknown_address_stores_only_the_hash(db):
    services.suppress_address(
        email="stranger@example.net",
        reason=Suppression.Reason.COMPLAINT,
        source=ConsentEvent.Source.ESP_EVENT,
    )
    assert Suppression.objects.get().email_hash == email_hash("stranger@example.net")
    assert not ConsentEvent.objects.exists()
    assert selectors.is_suppressed("Stranger@Example.net")
    assert not selectors.is_suppressed("someone-else@example.net")


def test_suppress_address_rejects_unknown_reason(db):
    with pytest.raises(ValueError, match="unknown suppression reason"):
        services.suppress_address(email="a@example.org", reason="bored", source=ConsentEvent.Source.ADMIN)
    assert not Suppression.objects.exists()
