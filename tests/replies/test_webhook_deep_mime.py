"""A message anymail's parser cannot take (1,000-deep MIME) posted to an ESP inbound webhook.

Before: RecursionError inside anymail's parser, the view answered 500 and the ESP retried the
same message forever. Now the raw MIME is taken from the validated payload and stored for our
own (bounded) parser: 200 once, the mail processed like any other, a replay stored once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
import time_machine
from django.test import RequestFactory, TestCase, override_settings

from replies.inbound_webhooks import PostmarkInboundWebhookView, raw_messages_in
from replies.models import InboundMessage, Message
from tests.replies.hostile import REPLY_TO, nested

pytestmark = pytest.mark.django_db

AUTH = "Basic " + base64.b64encode(b"hook:s3cret").decode()
SECRET = {"WEBHOOK_SECRET": "hook:s3cret"}
DEEP = nested(1000)


def _processed_once() -> Message:
    inbound = InboundMessage.objects.get()
    assert bytes(inbound.raw) == DEEP
    assert inbound.source == InboundMessage.Source.WEBHOOK
    assert inbound.status == InboundMessage.Status.PROCESSED, inbound.error
    message = Message.objects.get(inbound=inbound)
    assert "Die innerste Frage" in message.text
    return message


@override_settings(ANYMAIL=SECRET)
def test_postmark_raw_email_too_deep_for_anymail_is_stored_and_processed(client, world):
    payload = {"RawEmail": DEEP.decode(), "Headers": [], "FromFull": {"Email": "anna@example.org"}}

    def post():
        with TestCase.captureOnCommitCallbacks(execute=True):
            return client.post(
                "/webhooks/anymail/postmark/inbound/",
                payload,
                content_type="application/json",
                HTTP_AUTHORIZATION=AUTH,
            )

    assert post().status_code == 200
    message = _processed_once()
    assert message.conversation.subscriber == world.anna
    assert post().status_code == 200  # the ESP's retry: the same mail, stored once
    assert InboundMessage.objects.count() == 1


@override_settings(ANYMAIL={**SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": "key-123"})
@time_machine.travel(1763715600 + 5, tick=False)
def test_mailgun_body_mime_too_deep_keeps_the_signature_claimed(client, world):
    timestamp, token = "1763715600", "b" * 50
    signature = hmac.new(b"key-123", f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    data = {"body-mime": DEEP.decode(), "recipient": REPLY_TO, "sender": "anna@example.org"}
    data |= {"timestamp": timestamp, "token": token, "signature": signature}
    url = "/webhooks/anymail/mailgun/inbound_mime/"
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client.post(url, data, HTTP_AUTHORIZATION=AUTH).status_code == 200
    _processed_once()
    # Stored by the fallback = processed: the same signed request again is a replay.
    assert client.post(url, data, HTTP_AUTHORIZATION=AUTH).status_code == 400


@override_settings(ANYMAIL=SECRET)
def test_sparkpost_base64_rfc822_too_deep_is_found_and_stored(client, world):
    content = {"email_rfc822": base64.b64encode(DEEP).decode(), "email_rfc822_is_base64": True}
    events = [
        {
            "msys": {
                "relay_message": {
                    "content": content,
                    "rcpt_to": REPLY_TO,
                    "msg_from": "a@b.c",
                    "protocol": "smtp",
                }
            }
        }
    ]
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            "/webhooks/anymail/sparkpost/inbound/",
            events,
            content_type="application/json",
            HTTP_AUTHORIZATION=AUTH,
        )
    assert response.status_code == 200
    _processed_once()


@override_settings(ANYMAIL=SECRET)
def test_without_the_shared_secret_nothing_is_stored(client, world):
    payload = {"RawEmail": DEEP.decode(), "Headers": []}
    response = client.post("/webhooks/anymail/postmark/inbound/", payload, content_type="application/json")
    assert response.status_code == 400
    assert not InboundMessage.objects.exists()


def test_raw_messages_are_found_inside_json_strings_and_base64():
    # Amazon SES over SNS: the notification's "Message" is itself a JSON string.
    sns = {"Type": "Notification", "Message": json.dumps({"content": base64.b64encode(DEEP).decode()})}
    request = RequestFactory().post("/", json.dumps(sns), content_type="application/json")
    assert raw_messages_in(request) == [DEEP]
    # A header block without MIME fields or without a body is no message (SendGrid's "headers").
    form = {"headers": "From: a@b.c\nSubject: x\n", "text": "hello"}
    assert raw_messages_in(RequestFactory().post("/", form)) == []


def test_a_payload_with_no_message_in_it_is_kept_whole_as_text(world):
    body = json.dumps({"download": "https://esp.example/raw/123", "note": "nur eine URL"})
    request = RequestFactory().post("/", body, content_type="application/json")
    response = PostmarkInboundWebhookView().store_unparsed(request)
    assert response.status_code == 200
    inbound = InboundMessage.objects.get()
    assert bytes(inbound.raw).endswith(body.encode())
    assert inbound.subject.startswith("An inbound Postmark webhook payload")
