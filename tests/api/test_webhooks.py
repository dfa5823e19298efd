"""Webhooks out: events from the apps, signed deliveries a receiver verifies (and a replay it
refuses), retries with backoff, automatic disabling, the test event and the delivery log."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from api import signing, webhooks
from api.models import WebhookDelivery, WebhookEndpoint
from rundbrief.events import EVENTS
from subscribers import services
from subscribers.models import ConsentEvent
from tests.api.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def endpoint(receiver, manager):
    made = webhooks.create_endpoint(url=receiver.url, events=list(EVENTS), created_by=manager)
    receiver.secret = made.secret
    return made.endpoint


def test_the_secret_is_stored_encrypted(endpoint, receiver):
    row = WebhookEndpoint.objects.values().get()
    assert receiver.secret.startswith("whsec_")
    assert receiver.secret not in str(row)


def test_an_event_arrives_signed_and_a_replay_is_refused(
    api_as, endpoint, receiver, make_subscriber, django_capture_on_commit_callbacks
):
    ada = make_subscriber()
    with django_capture_on_commit_callbacks(execute=True):
        assert api_as().post(f"/subscribers/{ada.pk}/unsubscribe", {"topics": ["news"]}).status_code == 200
    [received] = receiver.accepted
    event = received.event
    assert received.headers["Rundbrief-Event"] == event["type"] == "subscriber.unsubscribed"
    assert event["data"]["subscriber_id"] == ada.pk
    assert event["data"]["topics"] == ["news"]
    assert event["data"]["subscriber"]["email"] == "ada@example.org"
    assert event["data"]["subscriber"]["topics"] == ["events"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 1, 204)
    assert str(delivery.event_id) == event["id"]

    # The same request again (someone recorded it): the receiver refuses it.
    again = requests.post(receiver.url, data=received.body, headers=received.headers, timeout=5)
    assert again.status_code == 409
    # A changed body with the old signature, and an old signature replayed after the window, too.
    forged = requests.post(receiver.url, data=received.body + b" ", headers=received.headers, timeout=5)
    assert forged.status_code == 401
    stamp = int(received.headers[signing.HEADER].split(",")[0].removeprefix("t="))
    with pytest.raises(signing.SignatureError, match="replay window"):
        signing.verify(receiver.secret, received.headers[signing.HEADER], received.body, now=stamp + 301)
    assert len(receiver.accepted) == 1


def test_subscriber_events_from_the_services(
    endpoint, receiver, make_subscriber, django_capture_on_commit_callbacks
):
    ada = make_subscriber()
    with django_capture_on_commit_callbacks(execute=True):
        services.update_preferences(
            subscriber=ada,
            topics=list(t.topic for t in ada.subscriptions.all()),
            frequency="every",
            frequency_limit=1,
            paused_until=None,
            format="text",
            name="Ada",
            language="en",
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.suppress_address(
            email="ada@example.org", reason="hard_bounce", source=ConsentEvent.Source.ESP_EVENT
        )
    with django_capture_on_commit_callbacks(execute=True):
        address_hash = services.erase(subscriber=ada, source=ConsentEvent.Source.API)
    events = [r.event for r in receiver.accepted]
    assert [e["type"] for e in events] == [
        "subscriber.preferences_changed",
        "delivery.hard_bounce",
        "subscriber.erased",
    ]
    assert events[0]["data"]["changed"] == ["format"]
    assert events[1]["data"]["subscriber"]["email"] == "ada@example.org"
    # Erased: nothing personal in the announcement, only the id and the address hash.
    assert events[2]["data"] == {"subscriber_id": ada.pk, "email_hash": address_hash}


def test_only_subscribed_events_and_active_endpoints_get_deliveries(receiver, manager, make_subscriber):
    webhooks.create_endpoint(url=receiver.url, events=["campaign.sent"], created_by=manager)
    off = webhooks.create_endpoint(url=receiver.url, events=["subscriber.unsubscribed"], created_by=manager)
    webhooks.set_active(endpoint=off.endpoint, active=False)
    assert (
        webhooks.fan_out(event="subscriber.unsubscribed", data={}, occurred_at=timezone.now().isoformat())
        == 0
    )
    assert not WebhookDelivery.objects.exists()


def test_failures_are_retried_with_backoff_then_the_endpoint_is_disabled(
    endpoint, receiver, settings, frozen_clock
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOK_MAX_ATTEMPTS = 5
    receiver.answer_status = 503
    webhooks.fan_out(event="campaign.sent", data={"campaign_id": 0}, occurred_at=timezone.now().isoformat())
    delivery = WebhookDelivery.objects.get()
    delays = []
    for _ in range(3):
        attempt = webhooks.deliver(delivery_id=delivery.pk)
        delays.append(attempt.retry_in)
        # Too early: the row is not due yet, nothing is sent.
        assert webhooks.deliver(delivery_id=delivery.pk).status == "retrying"
        frozen_clock.shift(timedelta(seconds=attempt.retry_in))
    assert delays == [30, 60, 120]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("retrying", 3, 503)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.consecutive_failures == 3
    assert "3 failed attempts in a row" in endpoint.disabled_reason
    # A disabled endpoint's waiting deliveries are given up, not sent.
    assert webhooks.deliver(delivery_id=delivery.pk).status == "failed"
    # Enabled again, the next event goes out and a success resets the count.
    webhooks.set_active(endpoint=endpoint, active=True)
    receiver.answer_status = 200
    webhooks.fan_out(event="campaign.sent", data={}, occurred_at=timezone.now().isoformat())
    newest = WebhookDelivery.objects.order_by("-pk").first()
    assert webhooks.deliver(delivery_id=newest.pk).status == "succeeded"
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_a_delivery_fails_for_good_after_the_last_attempt(endpoint, receiver, settings, frozen_clock):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.stop()  # nobody listens: a connection error
    webhooks.fan_out(event="campaign.sent", data={}, occurred_at=timezone.now().isoformat())
    delivery = WebhookDelivery.objects.get()
    first = webhooks.deliver(delivery_id=delivery.pk)
    assert first.status == "retrying" and "ConnectionError" in WebhookDelivery.objects.get().error
    frozen_clock.shift(timedelta(seconds=first.retry_in))
    assert webhooks.deliver(delivery_id=delivery.pk).status == "failed"
    assert webhooks.deliver(delivery_id=delivery.pk).status == "failed"  # done: never sent again
    assert WebhookDelivery.objects.get().attempts == 2


def test_lost_retries_are_enqueued_again(
    endpoint, receiver, frozen_clock, django_capture_on_commit_callbacks
):
    receiver.answer_status = 500
    webhooks.fan_out(event="campaign.sent", data={}, occurred_at=timezone.now().isoformat())
    delivery = WebhookDelivery.objects.get()
    webhooks.deliver(delivery_id=delivery.pk)  # fails; its retry task "is lost"
    receiver.answer_status = 200
    frozen_clock.shift(timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.requeue_lost_retries() == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
