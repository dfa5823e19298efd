"""Stats after sending: when and how long, the send timeline and replies over time as charts with
their numbers, the recipients with their delivery state (filterable, CSV), the content as sent."""

from __future__ import annotations

import csv
import io
from email.message import EmailMessage

import pytest
from django.urls import reverse

from campaigns import services
from campaigns.models import Campaign, Delivery
from replies import services as replies
from replies.models import InboundMessage
from rundbrief.mail.addresses import REPLY

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(campaign, topic, settings, marketer, client):
    settings.EMAIL_DELIVERY = "mailbox"
    for n in range(3):
        make_subscriber(f"r{n}@example.org", topic, name=f"R {n}")
    services.launch_campaign(campaign=campaign)
    failed = Delivery.objects.order_by("pk").last()
    Delivery.objects.filter(pk=failed.pk).update(status=Delivery.Status.FAILED, error="550 no such user")
    delivery = Delivery.objects.order_by("pk").first()
    reply = EmailMessage()
    reply["From"] = delivery.subscriber.email
    reply["To"] = REPLY.address(delivery.reply_token)
    reply["Subject"] = "Re: " + campaign.subject
    reply["Message-ID"] = "<stats-reply@example.org>"
    reply.set_content("Thank you, very interesting.")
    replies.store_inbound(reply.as_bytes(), source=InboundMessage.Source.PIPE, envelope_to=[reply["To"]])
    client.force_login(marketer)
    campaign.refresh_from_db()
    return campaign


def test_stats_page_shows_times_charts_recipients_and_content(client, sent):
    page = client.get(reverse("campaigns:stats", args=[sent.pk])).content.decode()
    assert 'id="send-timeline"' in page and 'id="replies-timeline"' in page
    timeline = page.split('id="send-timeline"', 1)[1].split("</figure>", 1)[0]
    assert 'data-value="3"' in timeline  # three handed over (one marked failed afterwards), numbers beside
    replies_chart = page.split('id="replies-timeline"', 1)[1].split("</figure>", 1)[0]
    assert 'data-value="1"' in replies_chart
    assert 'data-time="duration"' in page and 'data-time="started">—' not in page
    assert (
        page.count('data-recipient-status="sent"') == 2 and page.count('data-recipient-status="failed"') == 1
    )
    assert "Neues im Herbst" in page.split('id="as-sent"', 1)[1]  # the content as sent
    assert "chart.umd.min.js" in page
    assert 'srcdoc="&lt;!doctype html&gt;' in page  # the mail is the attribute's escaped value

    failed_only = client.get(reverse("campaigns:stats", args=[sent.pk]) + "?status=failed").content.decode()
    assert failed_only.count("data-recipient-status=") == 1 and "550 no such user" in failed_only


def test_recipients_export_as_csv_with_the_filter(client, sent):
    response = client.get(reverse("campaigns:recipients_csv", args=[sent.pk]) + "?status=failed")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["email", "name", "status", "sent_at", "attempts", "error"]
    assert [(r[0], r[2], r[5]) for r in rows[1:]] == [("r2@example.org", "failed", "550 no such user")]
    everyone = client.get(reverse("campaigns:recipients_csv", args=[sent.pk]))
    assert len(b"".join(everyone.streaming_content).decode().strip().splitlines()) == 4


def test_content_as_sent_stays_when_a_cancelled_campaign_is_edited(
    client, campaign, topic, settings, marketer
):
    settings.EMAIL_DELIVERY = "mailbox"
    make_subscriber("a@example.org", topic)
    services.launch_campaign(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CANCELLED)
    campaign.refresh_from_db()
    services.save_campaign(
        campaign=campaign, name="Herbst", topics=[topic], subject="Ganz neu", mjml_body=campaign.mjml_body
    )
    client.force_login(marketer)
    page = client.get(reverse("campaigns:stats", args=[campaign.pk])).content.decode()
    as_sent = page.split('id="as-sent"', 1)[1]
    assert "Neues im Herbst" in as_sent and "Ganz neu" not in as_sent


def test_a_draft_has_no_stats_page(client, campaign, marketer):
    client.force_login(marketer)
    assert client.get(reverse("campaigns:stats", args=[campaign.pk])).url == reverse(
        "campaigns:detail", args=[campaign.pk]
    )
