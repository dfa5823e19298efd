"""Launching and sending in-process (Celery eager): headers, formats, state machine, errors."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, Delivery
from rundbrief.mail.addresses import REPLY
from rundbrief.mailbox.models import CapturedMail
from subscribers.models import Subscriber, Suppression, email_hash

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db(transaction=True)


def test_launch_sends_one_mail_per_recipient_with_headers(campaign, topic, smtp_settings):
    handler = smtp_settings
    make_subscriber("eva@example.org", topic, name="Eva")
    make_subscriber("text@example.org", topic, format=Subscriber.Format.TEXT)
    services.launch_campaign(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert dict(handler.counts) == {"eva@example.org": 1, "text@example.org": 1}
    delivery = Delivery.objects.get(subscriber__email="eva@example.org")
    assert delivery.status == Delivery.Status.SENT and delivery.attempts == 1

    msg = next(m for m in handler.messages if m["To"].endswith("<eva@example.org>"))
    parsed = msg
    assert parsed["Message-ID"] == delivery.message_id
    assert REPLY.token_of(parsed["Reply-To"]) == delivery.reply_token
    assert parsed["List-Unsubscribe"].startswith("<http") and "/unsubscribe/" in parsed["List-Unsubscribe"]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["List-Id"] == "News <news.rundbrief.localhost>"
    assert parsed["Feedback-ID"].startswith(f"{campaign.pk}:news:")
    assert parsed["Subject"] == "Neues im Herbst"
    assert "Auto-Submitted" not in parsed
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "Hallo Eva, das ist Herbst." in text and "Hallo Eva, das ist Herbst." in html
    # The footer the marketer cannot remove, in both parts.
    for part in (text, html):
        assert "Anna Ansprech" in part and "/unsubscribe/" in part and "/preferences/" in part

    text_only = next(m for m in handler.messages if m["To"] == "text@example.org")
    assert text_only.get_content_type() == "text/plain"


def test_subscriber_suppressed_after_launch_is_skipped(campaign, topic, settings):
    settings.EMAIL_DELIVERY = "mailbox"
    make_subscriber("ok@example.org", topic)
    gone = make_subscriber("gone@example.org", topic)
    campaign.status = Campaign.Status.SENDING
    campaign.save()
    from campaigns.selectors import audience_pages

    ids = [sid for page in audience_pages(campaign, page_size=10) for sid, _h in page]
    assert len(ids) == 2
    # Rows exist, then the address is suppressed before the worker gets to it.
    for sid in ids:
        Delivery.objects.create(
            campaign=campaign, subscriber_id=sid, reply_token=f"t{sid}", message_id=f"<m{sid}@x>"
        )
    Suppression.objects.create(email_hash=email_hash(gone.email), reason=Suppression.Reason.UNSUBSCRIBED)
    from campaigns.sending.loop import send_deliveries

    result = send_deliveries(
        campaign_id=campaign.pk, delivery_ids=list(Delivery.objects.values_list("pk", flat=True))
    )
    assert (result.sent, result.skipped) == (1, 1)
    assert CapturedMail.objects.filter(recipients=["ok@example.org"]).count() == 1
    assert Delivery.objects.get(subscriber=gone).status == Delivery.Status.SKIPPED


def test_permanent_smtp_error_is_recorded_with_reason(campaign, topic, smtp_settings, smtp_sink):
    controller, handler = smtp_sink

    async def refuse(server, session, envelope, address, rcpt_options):
        if address.startswith("nobody"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    handler.handle_RCPT = refuse
    make_subscriber("nobody@example.org", topic)
    make_subscriber("real@example.org", topic)
    services.launch_campaign(campaign=campaign)
    failed = Delivery.objects.get(subscriber__email="nobody@example.org")
    assert failed.status == Delivery.Status.FAILED and "550" in failed.error
    assert handler.counts["real@example.org"] == 1


def test_transient_errors_are_retried_then_fail(campaign, topic, settings):
    settings.EMAIL_DELIVERY = "smtp"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 1  # nothing listens: connection refused, a transient error
    settings.SEND_MAX_ATTEMPTS = 3
    make_subscriber("later@example.org", topic)
    services.launch_campaign(campaign=campaign)  # eager Celery runs the retries at once
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 3 and "connection" in delivery.error.lower()


def test_pause_resume_cancel(campaign, topic, settings):
    settings.EMAIL_DELIVERY = "mailbox"
    make_subscriber("a@example.org", topic)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING, started_at=timezone.now())
    campaign.refresh_from_db()
    services.pause_campaign(campaign=campaign)
    services.queue_deliveries(campaign_id=campaign.pk)  # rows are built while paused, nothing sent
    assert Delivery.objects.get().status == Delivery.Status.QUEUED
    assert CapturedMail.objects.count() == 0
    services.resume_campaign(campaign=campaign)
    assert CapturedMail.objects.count() == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    with pytest.raises(services.CampaignStateError):
        services.cancel_campaign(campaign=campaign)


def test_scheduled_campaign_is_started_by_the_periodic_task(campaign, topic, settings):
    settings.EMAIL_DELIVERY = "mailbox"
    make_subscriber("a@example.org", topic)
    at = timezone.now() + timezone.timedelta(hours=1)
    services.launch_campaign(campaign=campaign, at=at)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    assert services.start_due_campaigns(now=timezone.now()) == 0
    assert services.start_due_campaigns(now=at) == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert CapturedMail.objects.count() == 1


def test_test_send_is_marked(campaign, settings):
    settings.EMAIL_DELIVERY = "mailbox"
    result = services.send_test(campaign=campaign, addresses=["me@example.org"])
    assert result.sent == ["me@example.org"]
    mail = CapturedMail.objects.get()
    assert mail.subject == "[TEST] Neues im Herbst"
    assert Delivery.objects.count() == 0
    with pytest.raises(ValueError):
        services.send_test(campaign=campaign, addresses=["not-an-address"])


def test_recovery_folds_recorded_acceptances_and_requeues_the_rest(campaign, topic, settings):
    from datetime import timedelta

    from campaigns.models import Acceptance

    settings.EMAIL_DELIVERY = "mailbox"
    handed_over = make_subscriber("handed@example.org", topic)
    never_sent = make_subscriber("never@example.org", topic)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.SENDING, started_at=timezone.now(), queued_all_at=timezone.now()
    )
    # What a worker killed mid-chunk leaves: both rows claimed, one acceptance recorded.
    rows = {
        s.email: Delivery.objects.create(
            campaign=campaign,
            subscriber=s,
            status=Delivery.Status.SENDING,
            reply_token=f"t{s.pk}",
            message_id=f"<m{s.pk}@x>",
        )
        for s in (handed_over, never_sent)
    }
    Acceptance.objects.create(delivery=rows["handed@example.org"], accepted_at=timezone.now())

    services.recover_stalled_sends(older_than=timedelta(0))

    assert Delivery.objects.get(subscriber=handed_over).status == Delivery.Status.SENT
    assert Delivery.objects.get(subscriber=never_sent).status == Delivery.Status.SENT
    # Only the one that had not been handed over was sent again.
    assert list(CapturedMail.objects.values_list("recipients", flat=True)) == [["never@example.org"]]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT


def test_send_loop_takes_from_the_shared_rate_bucket(campaign, topic, settings):
    import redis

    from campaigns.ratelimit import bucket_for

    settings.EMAIL_DELIVERY = "mailbox"
    settings.SEND_RATE_PER_SECOND = 1000
    bucket_for.cache_clear()
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("rundbrief:send-rate:mailbox")
    try:
        for n in range(5):
            make_subscriber(f"r{n}@example.org", topic)
        services.launch_campaign(campaign=campaign)
        # Five reservations at 1 ms each moved the bucket's next free slot forward.
        assert float(client.get("rundbrief:send-rate:mailbox")) > 0
        assert CapturedMail.objects.count() == 5
    finally:
        bucket_for.cache_clear()
        client.delete("rundbrief:send-rate:mailbox")


def test_cancel_keeps_the_rows_a_running_chunk_holds(campaign, topic, settings):
    """A running chunk's rows are still "queued" while it sends them (held by its row lock):
    a cancel removes the other queued rows, never those (their fold records what was sent)."""
    settings.EMAIL_DELIVERY = "mailbox"
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING, started_at=timezone.now())
    rows = [
        Delivery.objects.create(
            campaign=campaign,
            subscriber=make_subscriber(f"c{n}@example.org", topic),
            reply_token=f"c{n}",
            message_id=f"<c{n}@x>",
        )
        for n in range(3)
    ]
    params = connection.get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    with psycopg.connect(**params) as chunk:  # another worker's chunk transaction
        chunk.execute("SELECT id FROM campaigns_delivery WHERE id = %s FOR NO KEY UPDATE", [rows[0].pk])
        services.cancel_campaign(campaign=campaign)
        chunk.execute("UPDATE campaigns_delivery SET status = 'sent' WHERE id = %s", [rows[0].pk])
    assert list(Delivery.objects.values_list("pk", "status")) == [(rows[0].pk, Delivery.Status.SENT)]
