"""Campaign stats: the reply rate counts people who replied out of those delivered (issue #10).

Before, it divided reply *messages* by deliveries: one subscriber's two follow-ups tripled
their weight, and a campaign could show a 100 % reply rate when half its readers wrote.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Acceptance, Delivery
from campaigns.selectors import campaign_stats
from replies.models import Conversation, InboundMessage, Message
from replies.selectors import campaign_replies

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def replied_campaign(campaign, topic):
    """Four delivered; Eva wrote three times (one reply, two follow-ups), Finn once, Gert only an
    auto-reply, Hanna nothing."""
    people = {}
    for index, name in enumerate(["eva", "finn", "gert", "hanna"]):
        subscriber = make_subscriber(f"{name}@example.org", topic)
        people[name] = subscriber
        Delivery.objects.create(
            campaign=campaign,
            subscriber=subscriber,
            status=Delivery.Status.SENT,
            reply_token=f"{index}" * 32,
            message_id=f"<{name}@localhost>",
        )
    for name, kinds in {"eva": ["human"] * 3, "finn": ["human"], "gert": ["auto_reply"]}.items():
        conversation = Conversation.objects.create(subscriber=people[name], campaign=campaign, subject="Re")
        for kind in kinds:
            Message.objects.create(
                conversation=conversation,
                direction=Message.Direction.INBOUND,
                kind=kind,
                from_address=f"{name}@example.org",
            )
    # Our answer in Eva's conversation is not a reply of hers.
    Message.objects.create(conversation=conversation, direction=Message.Direction.OUTBOUND)
    return campaign


def test_reply_rate_is_people_who_replied_of_delivered(replied_campaign):
    assert campaign_replies(replied_campaign.pk).messages == 4
    assert campaign_replies(replied_campaign.pk).people == 2
    stats = campaign_stats(replied_campaign)
    assert (stats.delivered, stats.repliers, stats.replies) == (4, 2, 4)
    assert stats.reply_rate_percent == 50.0  # was 100.0: four messages over four deliveries


def test_a_conversation_without_a_subscriber_counts_its_sender_once(campaign):
    conversation = Conversation.objects.create(campaign=campaign, contact_address="x@example.org")
    for address in ("X@example.org", "x@example.org"):
        Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.INBOUND,
            kind=InboundMessage.Kind.HUMAN,
            from_address=address,
        )
    assert campaign_replies(campaign.pk).people == 1


def test_progress_json_and_page_show_people_and_messages_apart(client, marketer, replied_campaign):
    replied_campaign.status = "sent"
    replied_campaign.save()
    client.force_login(marketer)
    progress = client.get(reverse("campaigns:progress", args=[replied_campaign.pk])).json()
    assert (progress["repliers"], progress["replies"], progress["delivered"]) == (2, 4, 4)
    assert progress["reply_rate_percent"] == 50.0
    page = client.get(reverse("campaigns:detail", args=[replied_campaign.pk]), HTTP_ACCEPT_LANGUAGE="de")
    html = page.content.decode()
    assert '<b data-stat="repliers">2</b>' in html
    assert '<b data-stat="replies">4</b>' in html
    assert "Antwortquote: Personen, die geantwortet haben, von 4 zugestellten" in html


def test_mails_handed_over_but_not_yet_recorded_count_as_sending_not_queued(campaign, topic):
    """On PostgreSQL a sending process locks its rows instead of marking them "sending"; what it
    has handed over is in its acceptances until the chunk's fold (issue 17: was always 0)."""
    deliveries = [
        Delivery.objects.create(
            campaign=campaign,
            subscriber=make_subscriber(f"q{index}@example.org", topic),
            reply_token=f"{index}" * 32,
            message_id=f"<q{index}@localhost>",
        )
        for index in range(5)
    ]
    for delivery in deliveries[:2]:
        Acceptance.objects.create(delivery=delivery, accepted_at=timezone.now(), chunk=1, round=1)
    stats = campaign_stats(campaign)
    assert (stats.audience, stats.queued, stats.sending, stats.sent) == (5, 3, 2, 0)
    # Folded: the rows are sent and their acceptances are gone.
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries[:2]]).update(status=Delivery.Status.SENT)
    Acceptance.objects.all().delete()
    stats = campaign_stats(campaign)
    assert (stats.queued, stats.sending, stats.sent) == (3, 0, 2)
