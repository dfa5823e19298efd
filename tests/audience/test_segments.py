"""Segments: saved filters with a live count; a campaign's audience is its topics narrowed by one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audience.filters import AudienceFilter, subscribers_matching
from campaigns import selectors as campaign_selectors
from campaigns.models import Campaign, Delivery
from campaigns.services import save_campaign
from replies.models import Conversation
from subscribers.models import Attribute, Segment, Suppression, email_hash
from tests.audience.conftest import make_subscriber, member

pytestmark = pytest.mark.django_db

BODY = "<mj-section><mj-column><mj-text>Hallo</mj-text></mj-column></mj-section>"


def sent_campaign(name: str, days_ago: int, *receivers, status=Delivery.Status.SENT) -> Campaign:
    campaign = Campaign.objects.create(
        name=name,
        subject=name,
        mjml_body=BODY,
        status="sent",
        started_at=timezone.now() - timedelta(days=days_ago),
    )
    for index, subscriber in enumerate(receivers):
        Delivery.objects.create(
            campaign=campaign,
            subscriber=subscriber,
            status=status,
            reply_token=f"{name}-{index}",
            message_id=f"<{name}-{index}@x>",
        )
    return campaign


def test_a_segment_is_saved_from_the_editor_and_shown_with_its_count(marketer_client, marketer, topic):
    Attribute.objects.create(key="city", label_en="City", label_de="Stadt", kind="text")
    make_subscriber("a@example.org", topic, attributes={"city": "Kiel"}, language="en")
    make_subscriber("b@example.org", topic, attributes={"city": "Kiel"})
    make_subscriber("c@example.org", topic, attributes={"city": "Ulm"}, language="en")
    response = marketer_client.post(
        reverse("audience:segment_create"),
        {"name": "Kiel, English", "attr_city": "Kiel", "language": "en", "topic_status": "active"},
    )
    segment = Segment.objects.get()
    assert response["Location"] == reverse("audience:segment", args=[segment.pk])
    assert segment.created_by == marketer
    assert set(
        subscribers_matching(AudienceFilter.from_json(segment.definition)).values_list("email", flat=True)
    ) == {"a@example.org"}
    page = marketer_client.get(reverse("audience:segment", args=[segment.pk])).content.decode()
    assert "1 subscriber" in page and "a@example.org" in page
    editor = marketer_client.get(reverse("audience:segment_edit", args=[segment.pk]))
    assert editor.context["form"].initial["attr_city"] == "Kiel"
    assert editor.context["form"].initial["language"] == "en"


def test_the_editor_counts_live(marketer_client, topic):
    make_subscriber("a@example.org", topic, language="en")
    make_subscriber("b@example.org", topic)
    body = marketer_client.get(reverse("audience:count"), {"language": "en"}).json()
    assert body == {"count": 1, "exact": True, "label": "1 subscriber"}


def test_campaigns_received_and_replies(topic):
    a = make_subscriber("a@example.org", topic)
    b = make_subscriber("b@example.org", topic)
    c = make_subscriber("c@example.org", topic)
    old = sent_campaign("old", 90, c)
    sent_campaign("one", 30, a)
    sent_campaign("two", 20, b, status=Delivery.Status.BOUNCED)
    three = sent_campaign("three", 10, a)
    sent_campaign("four", 5)
    Conversation.objects.create(subscriber=b, campaign=three)
    Conversation.objects.create(subscriber=c, campaign=old)

    def matching(**conditions) -> set[str]:
        return set(subscribers_matching(AudienceFilter(**conditions)).values_list("email", flat=True))

    assert matching(received_last=3) == {"a@example.org", "b@example.org"}
    assert matching(received_last=2) == {"a@example.org"}
    assert matching(not_received_last=4) == {"c@example.org"}
    assert matching(received_campaign=old.pk) == {"c@example.org"}
    # "replied to one of the last three issues"
    assert matching(replied_last=3) == {"b@example.org"}
    assert matching(replied_last=5) == {"b@example.org", "c@example.org"}


def test_a_campaign_to_a_segment_goes_only_to_its_topics_subscribers_in_it(topic, marketer):
    topic.owner = marketer
    topic.save()
    english = [make_subscriber(f"en{i}@example.org", topic, language="en") for i in range(3)]
    for i in range(2):
        make_subscriber(f"de{i}@example.org", topic)
    make_subscriber("elsewhere@example.org", language="en")  # in the segment, not in the topic
    Suppression.objects.create(email_hash=email_hash("en0@example.org"), reason="hard_bounce")
    segment = Segment.objects.create(name="English", definition=AudienceFilter(language="en").as_json())
    campaign = save_campaign(
        name="Hello", topics=[topic], subject="Hi", mjml_body=BODY, user=marketer, segment=segment
    )
    audience = campaign_selectors.count_audience(campaign)
    assert (audience.candidates, audience.recipients) == (3, 2)
    assert audience.excluded["suppressed"] == 1  # the breakdown per reason stays
    pages = list(campaign_selectors.audience_pages(campaign, page_size=1))
    assert sorted(row[0] for page in pages for row in page) == sorted(s.pk for s in english[1:])


def test_the_campaign_editor_offers_the_segment_and_the_detail_page_names_it(client, topic, marketer):
    client.force_login(marketer)
    segment = Segment.objects.create(name="English", definition=AudienceFilter(language="en").as_json())
    editor = client.get(reverse("campaigns:create"), {"segment": segment.pk})
    assert editor.context["form"]["segment"].value() == str(segment.pk)
    anna = member("anna", "Staff")  # the contact person: someone who answers replies, with a name
    response = client.post(
        reverse("campaigns:create"),
        {
            "name": "Hello",
            "topics": [topic.pk],
            "segment": segment.pk,
            "subject": "Hi",
            "mjml_body": BODY,
            "contact": anna.pk,
        },
    )
    campaign = Campaign.objects.get(name="Hello")
    assert response.status_code == 302 and campaign.segment == segment
    page = client.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert "Narrowed to the segment “English”" in page


def test_a_segment_a_campaign_uses_cannot_be_deleted(marketer_client, topic, marketer):
    segment = Segment.objects.create(name="English", definition=AudienceFilter(language="en").as_json())
    save_campaign(name="Hello", topics=[topic], subject="Hi", mjml_body=BODY, user=marketer, segment=segment)
    marketer_client.post(reverse("audience:segment_delete", args=[segment.pk]))
    assert Segment.objects.filter(pk=segment.pk).exists()
    unused = Segment.objects.create(name="Unused", definition={})
    marketer_client.post(reverse("audience:segment_delete", args=[unused.pk]))
    assert not Segment.objects.filter(pk=unused.pk).exists()


def test_a_stored_filter_naming_a_deleted_field_still_works(topic):
    make_subscriber("a@example.org", topic)
    spec = AudienceFilter.from_json(
        {"attributes": [{"key": "gone", "value": "x", "minimum": "", "maximum": ""}]}
    )
    assert subscribers_matching(spec).count() == 1
