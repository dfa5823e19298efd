"""Tracking webhooks through the real URL (Postmark's format), protected by WEBHOOK_SECRET."""

from __future__ import annotations

import base64

import pytest

from campaigns.models import Delivery
from subscribers.models import ConsentEvent, Subscriber, Suppression, email_hash

from .conftest import make_subscriber

URL = "/webhooks/anymail/postmark/tracking/"
SECRET = "hook:s3cret"


@pytest.fixture
def webhook_settings(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}


@pytest.fixture
def delivery(campaign, topic) -> Delivery:
    subscriber = make_subscriber("eva@example.org", topic)
    return Delivery.objects.create(
        campaign=campaign,
        subscriber=subscriber,
        status=Delivery.Status.SENT,
        reply_token="a" * 32,
        message_id="<abc@localhost>",
        esp_message_id="pm-123",
    )


def post(client, payload: dict, auth: str | None = SECRET):
    headers = {}
    if auth:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return client.post(URL, payload, content_type="application/json", **headers)


def bounce(kind: str) -> dict:
    return {
        "RecordType": "Bounce",
        "Type": kind,
        "MessageID": "pm-123",
        "Email": "eva@example.org",
        "Description": "The server was unable to deliver your message",
        "BouncedAt": "2026-11-22T10:00:00Z",
        "ID": 42,
    }


@pytest.mark.django_db
def test_unsigned_and_wrongly_signed_requests_are_refused(client, webhook_settings, delivery):
    assert post(client, bounce("HardBounce"), auth=None).status_code == 400
    assert post(client, bounce("HardBounce"), auth="hook:wrong").status_code == 400
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert not Suppression.objects.exists()


@pytest.mark.django_db
def test_hard_bounce_suppresses_and_marks_the_delivery(client, webhook_settings, delivery):
    assert post(client, bounce("HardBounce")).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.BOUNCED
    assert Suppression.objects.get(email_hash=email_hash("eva@example.org")).reason == "hard_bounce"


@pytest.mark.django_db
def test_soft_bounce_is_only_counted(client, webhook_settings, delivery):
    assert post(client, bounce("SoftBounce")).status_code == 200
    assert post(client, {**bounce("Transient"), "ID": 43}).status_code == 200
    delivery.refresh_from_db()
    assert (delivery.status, delivery.soft_bounces) == (Delivery.Status.SENT, 2)
    assert not Suppression.objects.exists()


@pytest.mark.django_db
def test_complaint_unsubscribes_and_suppresses(client, webhook_settings, delivery):
    payload = {
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "MessageID": "<abc@localhost>",
        "Email": "eva@example.org",
        "BouncedAt": "2026-11-22T10:00:00Z",
        "ID": 44,
    }
    delivery.esp_message_id = ""  # matched by our own Message-ID instead
    delivery.save()
    assert post(client, payload).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.COMPLAINED
    assert delivery.subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert Suppression.objects.get().reason in ("complaint", "unsubscribed")
    assert ConsentEvent.objects.filter(
        kind=ConsentEvent.Kind.UNSUBSCRIBED, details__campaign_id=delivery.campaign_id
    ).exists()


@pytest.mark.django_db
def test_a_forged_bounce_without_the_secret_suppresses_nothing(client, campaign, topic):
    """The attack of issue #10 with the settings the suite was started with (no override):
    an unauthenticated Postmark HardBounce must be refused, not answered 200."""
    subscriber = make_subscriber("victim@example.org", topic)
    Delivery.objects.create(
        campaign=campaign,
        subscriber=subscriber,
        reply_token="t" * 32,
        message_id="<m@x>",
        esp_message_id="pm-1",
    )
    forged = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "MessageID": "pm-1",
        "Email": "victim@example.org",
    }
    response = client.post("/webhooks/anymail/postmark/tracking/", forged, content_type="application/json")
    assert response.status_code == 400
    wrong = "Basic " + base64.b64encode(b"test:guessed").decode()
    response = client.post(
        "/webhooks/anymail/postmark/tracking/",
        forged,
        content_type="application/json",
        HTTP_AUTHORIZATION=wrong,
    )
    assert response.status_code == 400
    assert not Suppression.objects.exists()
