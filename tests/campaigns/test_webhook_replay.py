"""Signed ESP webhooks are accepted once, and only while fresh (issue #10).

Mailgun signs only ``timestamp + token``: before, one captured signature block made any forged
body valid forever. SendGrid signs timestamp and body but nobody checked the timestamp.
Real URLs, real PostgreSQL, the real shared cache (Redis); the clock is frozen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from unittest import mock

import pytest
import redis
import time_machine
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.test import override_settings

from campaigns.models import Delivery
from subscribers.models import Suppression, email_hash
from tests.campaigns.conftest import make_subscriber

NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
KEY = "key-mailgun-signing"
AUTH = "Basic " + base64.b64encode(b"hook:s3cret").decode()
MAILGUN = "/webhooks/anymail/mailgun/tracking/"

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mailgun_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret", "MAILGUN_WEBHOOK_SIGNING_KEY": KEY}
    settings.WEBHOOK_MAX_AGE_SECONDS = 900


@pytest.fixture
def deliveries(campaign, topic):
    """Two recipients of one campaign: Eva's mail bounces; Vic is whom a forger wants suppressed."""
    made = {}
    for name in ("eva", "vic"):
        made[name] = Delivery.objects.create(
            campaign=campaign,
            subscriber=make_subscriber(f"{name}@example.org", topic),
            status=Delivery.Status.SENT,
            reply_token=name * 8,
            message_id=f"<{name}@localhost>",
        )
    return made


def signature_block(timestamp: int, token: str) -> dict:
    digest = hmac.new(KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": str(timestamp), "token": token, "signature": digest}


def failed_event(recipient: str, message_id: str, block: dict) -> dict:
    return {
        "signature": block,
        "event-data": {
            "event": "failed",
            "severity": "permanent",
            "id": "ev-" + recipient,
            "timestamp": NOW.timestamp(),
            "recipient": recipient,
            "message": {"headers": {"message-id": message_id}},
            "delivery-status": {"code": 550, "message": "No such user"},
        },
    }


def post_json(client, url: str, payload: dict, **headers):
    return client.post(
        url, json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=AUTH, **headers
    )


def test_a_mailgun_signature_block_works_once_and_never_on_another_body(
    client, frozen, mailgun_settings, deliveries
):
    block = signature_block(int(NOW.timestamp()) - 30, "t" * 50)
    assert (
        post_json(client, MAILGUN, failed_event("eva@example.org", "eva@localhost", block)).status_code == 200
    )
    assert Suppression.objects.get().email_hash == email_hash("eva@example.org")
    # The attack: the same valid block on a forged body about somebody else.
    forged = failed_event("vic@example.org", "vic@localhost", block)
    assert post_json(client, MAILGUN, forged).status_code == 400
    # The very same request again (a replay, not a retry: the first one was answered 200).
    again = failed_event("eva@example.org", "eva@localhost", block)
    assert post_json(client, MAILGUN, again).status_code == 400
    assert Suppression.objects.count() == 1
    deliveries["vic"].refresh_from_db()
    assert deliveries["vic"].status == Delivery.Status.SENT


def test_a_mailgun_signature_older_or_newer_than_the_window_is_refused(
    client, frozen, mailgun_settings, deliveries
):
    stale = signature_block(int(NOW.timestamp()) - 901, "s" * 50)
    response = post_json(client, MAILGUN, failed_event("vic@example.org", "vic@localhost", stale))
    assert response.status_code == 400
    future = signature_block(int(NOW.timestamp()) + 901, "f" * 50)
    assert (
        post_json(client, MAILGUN, failed_event("vic@example.org", "vic@localhost", future)).status_code
        == 400
    )
    junk = {**signature_block(int(NOW.timestamp()), "j" * 50)}
    junk["timestamp"] = "yesterday"
    assert (
        post_json(client, MAILGUN, failed_event("vic@example.org", "vic@localhost", junk)).status_code == 400
    )
    assert not Suppression.objects.exists()
    # Inside the window, with a token not seen before: accepted.
    fresh = signature_block(int(NOW.timestamp()) - 899, "n" * 50)
    assert (
        post_json(client, MAILGUN, failed_event("vic@example.org", "vic@localhost", fresh)).status_code == 200
    )
    assert Suppression.objects.get().email_hash == email_hash("vic@example.org")


def test_a_wrong_signature_claims_nothing(client, frozen, mailgun_settings, deliveries):
    """Only signatures that pass anymail's check are remembered: junk cannot burn a real token."""
    block = signature_block(int(NOW.timestamp()), "r" * 50)
    bad = {**block, "signature": "0" * 64}
    assert (
        post_json(client, MAILGUN, failed_event("eva@example.org", "eva@localhost", bad)).status_code == 400
    )
    assert (
        post_json(client, MAILGUN, failed_event("eva@example.org", "eva@localhost", block)).status_code == 200
    )


def test_used_signatures_live_in_the_shared_cache_not_in_the_process(
    client, frozen, mailgun_settings, deliveries
):
    block = signature_block(int(NOW.timestamp()), "c" * 50)
    assert (
        post_json(client, MAILGUN, failed_event("eva@example.org", "eva@localhost", block)).status_code == 200
    )
    keys = redis.Redis.from_url(settings.REDIS_URL).keys("*webhook-signature:Mailgun:*")
    assert len(keys) == 1
    ttl = redis.Redis.from_url(settings.REDIS_URL).ttl(keys[0])
    assert 900 < ttl <= 2 * 900 + 60


def test_a_failed_processing_releases_the_claim_so_the_esps_retry_gets_through(
    client, frozen, mailgun_settings, deliveries
):
    client.raise_request_exception = False
    block = signature_block(int(NOW.timestamp()), "x" * 50)
    payload = failed_event("eva@example.org", "eva@localhost", block)
    with mock.patch("campaigns.tracking.suppress_address", side_effect=RuntimeError("database hiccup")):
        assert post_json(client, MAILGUN, payload).status_code == 500
    assert post_json(client, MAILGUN, payload).status_code == 200
    assert Suppression.objects.get().email_hash == email_hash("eva@example.org")


def test_the_mailgun_inbound_webhook_refuses_a_replayed_signature(client, frozen, mailgun_settings):
    from tests.replies.conftest import eml

    block = signature_block(int(NOW.timestamp()), "i" * 50)
    data = {
        "body-mime": eml("outlook_reply_de.eml").decode("latin-1"),
        "recipient": "newsletter@localhost",
        "sender": "juergen.mueller@example.com",
        **block,
    }
    url = "/webhooks/anymail/mailgun/inbound_mime/"
    assert client.post(url, data, HTTP_AUTHORIZATION=AUTH).status_code == 200
    forged = {**data, "body-mime": "From: someone@example.org\r\nSubject: forged\r\n\r\nforged\r\n"}
    assert client.post(url, forged, HTTP_AUTHORIZATION=AUTH).status_code == 400


# --- SendGrid: signed timestamp + body, the timestamp now checked, each signature used once --------


@pytest.fixture
def sendgrid_key(settings):
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": "hook:s3cret",
        "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY": base64.b64encode(public).decode(),
    }
    settings.WEBHOOK_MAX_AGE_SECONDS = 900
    return private


def signed_sendgrid_request(private, events: list, timestamp: int) -> tuple[bytes, dict]:
    """What an attacker could capture: the body and its signature headers."""
    body = json.dumps(events).encode()
    signature = private.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE": base64.b64encode(signature).decode(),
        "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP": str(timestamp),
    }


def sendgrid_post(client, request: tuple[bytes, dict]):
    body, headers = request
    return client.post(
        "/webhooks/anymail/sendgrid/tracking/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=AUTH,
        **headers,
    )


@pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")
def test_a_sendgrid_event_is_accepted_once_and_only_while_fresh(client, frozen, sendgrid_key, deliveries):
    now = int(NOW.timestamp())
    event = [
        {
            "event": "bounce",
            "email": "eva@example.org",
            "smtp-id": "<eva@localhost>",
            "sg_event_id": "sg-1",
            "timestamp": now,
            "reason": "550 No such user",
            "type": "bounce",
        }
    ]
    stale = signed_sendgrid_request(sendgrid_key, event, now - 3600)  # validly signed an hour ago
    assert sendgrid_post(client, stale).status_code == 400
    assert not Suppression.objects.exists()
    captured = signed_sendgrid_request(sendgrid_key, event, now - 10)
    assert sendgrid_post(client, captured).status_code == 200
    assert Suppression.objects.get().email_hash == email_hash("eva@example.org")
    Suppression.objects.all().delete()  # staff lift it; replaying the captured event must not undo that
    assert sendgrid_post(client, captured).status_code == 400
    assert not Suppression.objects.exists()


@override_settings(ANYMAIL={"WEBHOOK_SECRET": "hook:s3cret"})
def test_esps_without_a_signed_timestamp_are_unchanged(client):
    """Postmark has no signature: basic auth alone, no freshness to check."""
    payload = {"RecordType": "Delivery", "MessageID": "x", "Recipient": "a@example.org", "ID": 1}
    url = "/webhooks/anymail/postmark/tracking/"
    assert (
        client.post(url, payload, content_type="application/json", HTTP_AUTHORIZATION=AUTH).status_code == 200
    )
    assert (
        client.post(url, payload, content_type="application/json", HTTP_AUTHORIZATION=AUTH).status_code == 200
    )
