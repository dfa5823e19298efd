"""Tracking webhooks through the real URL (Postmark's format), protected by WEBHOOK_SECRET."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from campaigns.models import Acceptance, Delivery, IgnoredTrackingEvent
from campaigns.tracking import record_tracking_event
from subscribers.models import ConsentEvent, Subscriber, Suppression, Topic, email_hash

from .conftest import BODY, make_subscriber

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


# --- Only events about mail we sent act (issue #10) -------------------------------------------------


@pytest.mark.django_db
def test_a_bounce_for_no_mail_of_ours_suppresses_nothing_and_is_recorded(client, webhook_settings, caplog):
    """Before: any HardBounce naming any address suppressed it, matched or not."""
    payload = {**bounce("HardBounce"), "MessageID": "never-sent-by-us", "Email": "someone@example.org"}
    assert post(client, payload).status_code == 200  # 200: the ESP must not retry it forever
    assert not Suppression.objects.exists()
    ignored = IgnoredTrackingEvent.objects.get()
    assert (ignored.reason, ignored.esp, ignored.event_type) == ("no_delivery", "Postmark", "bounced")
    assert (ignored.message_id, ignored.recipient) == ("never-sent-by-us", "someone@example.org")
    assert ignored.event_id == "42"
    assert "ignored: no_delivery" in caplog.text


@pytest.mark.django_db
def test_a_complaint_without_a_message_id_suppresses_nothing(client, webhook_settings, delivery):
    payload = {"RecordType": "SpamComplaint", "Type": "SpamComplaint", "Email": "eva@example.org", "ID": 45}
    assert post(client, payload).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.subscriber.status == Subscriber.Status.CONFIRMED
    assert not Suppression.objects.exists()
    assert IgnoredTrackingEvent.objects.get().reason == "no_delivery"


@pytest.mark.django_db
def test_a_real_message_id_with_someone_elses_address_suppresses_nobody(client, webhook_settings, delivery):
    """Whoever received a newsletter knows its ids; naming another address must not suppress that one."""
    payload = {**bounce("HardBounce"), "Email": "victim@example.org"}
    assert post(client, payload).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert not Suppression.objects.exists()
    assert IgnoredTrackingEvent.objects.get().reason == "other_recipient"


@pytest.mark.django_db
def test_an_event_without_a_recipient_suppresses_the_deliverys_subscriber():
    """The suppressed address is always the delivery's, never one taken from the event."""
    from campaigns.services import save_campaign

    owner = User.objects.create_user("olga", "olga@example.org", "pw")
    topic = Topic.objects.create(slug="t", name="T", owner=owner)
    campaign = save_campaign(name="C", topics=[topic], subject="S", mjml_body=BODY, user=owner)
    delivery = Delivery.objects.create(
        campaign=campaign,
        subscriber=make_subscriber("paul@example.org", topic),
        reply_token="p" * 32,
        message_id="<p@localhost>",
    )
    outcome = record_tracking_event(
        event_type="bounced", message_id="<p@localhost>", recipient=None, esp="SES"
    )
    assert (outcome.kind, outcome.delivery_id, outcome.ignored) == ("hard_bounce", delivery.pk, None)
    assert Suppression.objects.get().email_hash == email_hash("paul@example.org")


@pytest.mark.django_db
def test_a_bounce_arriving_before_the_send_loop_folded_its_acceptance_still_matches(
    client, webhook_settings, delivery
):
    delivery.esp_message_id = ""
    delivery.message_id = "<other@localhost>"
    delivery.save()
    Acceptance.objects.create(delivery=delivery, esp_message_id="pm-123", accepted_at=timezone.now())
    assert post(client, bounce("HardBounce")).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.BOUNCED
    assert Suppression.objects.get(email_hash=email_hash("eva@example.org")).reason == "hard_bounce"
    assert not IgnoredTrackingEvent.objects.exists()


@pytest.mark.django_db
def test_erasing_a_subscriber_removes_the_ignored_events_naming_them(client, webhook_settings, delivery):
    from subscribers.services import erase

    post(client, {**bounce("HardBounce"), "MessageID": "unknown-1"})
    post(client, {**bounce("HardBounce"), "MessageID": "unknown-2", "Email": "other@example.org", "ID": 50})
    assert IgnoredTrackingEvent.objects.count() == 2
    erase(subscriber=delivery.subscriber, source=ConsentEvent.Source.PREFERENCE_CENTRE)
    assert list(IgnoredTrackingEvent.objects.values_list("recipient", flat=True)) == ["other@example.org"]


@pytest.mark.django_db
def test_staff_see_ignored_events_in_the_admin(client, webhook_settings, admin_user):
    post(client, {**bounce("HardBounce"), "MessageID": "never-sent-by-us"})
    client.force_login(admin_user)
    page = client.get("/admin/campaigns/ignoredtrackingevent/")
    assert page.status_code == 200
    assert "never-sent-by-us" in page.content.decode()
