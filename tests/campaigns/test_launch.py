"""A safe launch: "send to N people?" first, a past "Send at" refused, Cancel asked first, and a
cancelled campaign edited, launched again (to those it has not reached) or duplicated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from campaigns import services
from campaigns.models import Campaign, Delivery
from campaigns.views import launch_question
from rundbrief.mailbox.models import CapturedMail

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db(transaction=True)
C = Campaign.Status


def local(at) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%dT%H:%M")


def test_launch_asks_with_the_audience_size_before_sending(client_marketer, campaign, topic):
    make_subscriber("a@example.org", topic)
    make_subscriber("b@example.org", topic)
    url = reverse("campaigns:launch", args=[campaign.pk])
    page = client_marketer.post(url, {"at": ""})
    assert page.status_code == 200
    assert "Send “Herbst” to 2 people now?" in page.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == C.DRAFT and not CapturedMail.objects.exists()

    response = client_marketer.post(url, {"at": "", "confirmed": "1"})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == C.SENT and CapturedMail.objects.count() == 2


def test_question_groups_the_number_per_language():
    assert launch_question("X", 1234, None) == "Send “X” to 1,234 people now?"
    assert launch_question("X", 1, None) == "Send “X” to 1 person now?"
    with translation.override("de"):
        assert launch_question("X", 1234, None) == "„X“ jetzt an 1.234 Personen senden?"


def test_a_past_send_time_is_refused_with_a_clear_error(client_marketer, campaign, topic):
    make_subscriber("a@example.org", topic)
    url = reverse("campaigns:launch", args=[campaign.pk])
    past = local(timezone.now() - timedelta(hours=1))
    for confirmed in ("", "1"):
        response = client_marketer.post(url, {"at": past, "confirmed": confirmed}, follow=True)
        assert "has passed. Choose a time in the future" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == C.DRAFT and not CapturedMail.objects.exists()
    with pytest.raises(services.CampaignStateError):
        services.launch_campaign(campaign=campaign, at=timezone.now() - timedelta(seconds=1))


def test_a_future_time_is_confirmed_then_scheduled(client_marketer, campaign, topic):
    make_subscriber("a@example.org", topic)
    url = reverse("campaigns:launch", args=[campaign.pk])
    later = local(timezone.now() + timedelta(days=1))
    page = client_marketer.post(url, {"at": later}).content.decode()
    assert "Send “Herbst” to 1 person at" in page and f'value="{later}"' in page
    client_marketer.post(url, {"at": later, "confirmed": "1"})
    campaign.refresh_from_db()
    assert campaign.status == C.SCHEDULED and local(campaign.scheduled_at) == later


def test_cancel_asks_first_then_the_campaign_can_be_edited_and_rescheduled(client_marketer, campaign, topic):
    make_subscriber("a@example.org", topic)
    services.launch_campaign(campaign=campaign, at=timezone.now() + timedelta(days=1))
    url = reverse("campaigns:cancel", args=[campaign.pk])
    page = client_marketer.post(url).content.decode()
    assert "Cancel “Herbst”?" in page and 'data-confirm="cancel"' in page
    campaign.refresh_from_db()
    assert campaign.status == C.SCHEDULED
    client_marketer.post(url, {"confirmed": "1"})
    campaign.refresh_from_db()
    assert campaign.status == C.CANCELLED

    assert client_marketer.get(reverse("campaigns:edit", args=[campaign.pk])).status_code == 200
    services.save_campaign(
        campaign=campaign, name="Herbst 2", topics=[topic], subject="Neu", mjml_body=campaign.mjml_body
    )
    later = timezone.now() + timedelta(hours=2)
    services.launch_campaign(campaign=campaign, at=later)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.name, campaign.finished_at) == (C.SCHEDULED, "Herbst 2", None)


def test_a_cancelled_campaign_launched_again_reaches_only_the_rest(campaign, topic, settings):
    settings.EMAIL_DELIVERY = "mailbox"
    reached = make_subscriber("reached@example.org", topic)
    make_subscriber("rest@example.org", topic)
    Delivery.objects.create(
        campaign=campaign,
        subscriber=reached,
        status=Delivery.Status.SENT,
        reply_token="t1",
        message_id="<1@x>",
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=C.CANCELLED, finished_at=timezone.now())
    campaign.refresh_from_db()
    services.launch_campaign(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == C.SENT
    assert [m.recipients for m in CapturedMail.objects.all()] == [["rest@example.org"]]


@pytest.mark.parametrize("status", [C.SENT, C.CANCELLED, C.DRAFT])
def test_any_campaign_can_be_duplicated_as_a_draft(client_marketer, campaign, topic, status):
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    response = client_marketer.post(reverse("campaigns:duplicate", args=[campaign.pk]))
    copy = Campaign.objects.exclude(pk=campaign.pk).get()
    assert response.url == reverse("campaigns:edit", args=[copy.pk])
    assert copy.status == C.DRAFT and copy.name == "Herbst (copy)"
    assert (copy.subject, copy.preheader, copy.mjml_body, copy.contact) == (
        campaign.subject,
        campaign.preheader,
        campaign.mjml_body,
        campaign.contact,
    )
    assert list(copy.topics.all()) == [topic]
