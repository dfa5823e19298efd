"""A subscriber's page: everything about them, edits recorded with who made them, and
conversations linked only for users with inbox rights (their text never shown here)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import Campaign, Delivery
from replies.models import Conversation, Message
from subscribers.models import Attribute, ConsentEvent, SubscriberChange, Suppression
from tests.audience.conftest import make_subscriber, member

pytestmark = pytest.mark.django_db

REPLY_TEXT = "Bitte schickt mir keine Rabatte mehr, nur die Termine."


@pytest.fixture
def subscriber(topic):
    subscriber = make_subscriber("lea@example.org", topic, name="Lea", attributes={"city": "Kiel"})
    ConsentEvent.objects.create(
        subscriber=subscriber,
        email_hash=subscriber.email_hash,
        kind=ConsentEvent.Kind.REQUESTED,
        source=ConsentEvent.Source.FORM,
        ip_address="192.0.2.7",
        consent_text_version="v3",
        topics=["news"],
    )
    campaign = Campaign.objects.create(name="Herbstbrief", subject="Herbst", mjml_body="<mj-text/>")
    Delivery.objects.create(
        campaign=campaign,
        subscriber=subscriber,
        status=Delivery.Status.BOUNCED,
        reply_token="t1",
        message_id="<m1@x>",
    )
    conversation = Conversation.objects.create(subscriber=subscriber, campaign=campaign, subject="Re: Herbst")
    Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        text=REPLY_TEXT,
        stripped_text=REPLY_TEXT,
    )
    Suppression.objects.create(
        email_hash=subscriber.email_hash,
        reason=Suppression.Reason.HARD_BOUNCE,
        details={"description": "550 no such user"},
    )
    Attribute.objects.create(key="city", label_en="City", label_de="Stadt", kind="text")
    return subscriber


def test_the_page_shows_state_topics_consent_deliveries_suppression_and_fields(marketer_client, subscriber):
    page = marketer_client.get(reverse("audience:subscriber", args=[subscriber.pk])).content.decode()
    for expected in (
        "lea@example.org",
        "News",
        "192.0.2.7",
        "v3",
        "Herbstbrief",
        "Bounced",
        "Hard bounce",
        "550 no such user",
        "Kiel",
        "City",
    ):
        assert expected in page, expected


def test_a_marketer_without_inbox_rights_sees_no_reply_text_and_no_inbox_link(marketer_client, subscriber):
    page = marketer_client.get(reverse("audience:subscriber", args=[subscriber.pk])).content.decode()
    conversation = subscriber.conversations.get()
    assert REPLY_TEXT not in page
    assert reverse("replies:conversation", args=[conversation.pk]) not in page
    assert "Herbstbrief" in page  # the conversation is listed, with what it was about


def test_a_marketer_with_inbox_rights_gets_the_link_but_still_no_text_here(client, subscriber):
    client.force_login(member("mona", "Marketers", "Managers"))
    page = client.get(reverse("audience:subscriber", args=[subscriber.pk])).content.decode()
    conversation = subscriber.conversations.get()
    assert reverse("replies:conversation", args=[conversation.pk]) in page
    assert REPLY_TEXT not in page


def test_edits_are_saved_and_recorded_with_who(marketer_client, marketer, subscriber):
    Attribute.objects.create(key="member", label_en="Member", label_de="Mitglied", kind="yes_no")
    response = marketer_client.post(
        reverse("audience:subscriber", args=[subscriber.pk]),
        {"name": "Lea Sommer", "language": "en", "attr_city": "", "attr_member": "yes"},
    )
    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert (subscriber.name, subscriber.language) == ("Lea Sommer", "en")
    assert subscriber.attributes == {"member": True}  # emptied city is deleted, not kept as ""
    change = SubscriberChange.objects.get(subscriber=subscriber)
    assert change.changed_by == marketer
    assert change.changes == {
        "name": ["Lea", "Lea Sommer"],
        "language": ["de", "en"],
        "attributes.city": ["Kiel", None],
        "attributes.member": [None, True],
    }
    page = marketer_client.get(reverse("audience:subscriber", args=[subscriber.pk])).content.decode()
    assert "Mara" in page and "attributes.member" in page


def test_typed_fields_refuse_wrong_values(marketer_client, subscriber):
    Attribute.objects.create(key="age", label_en="Age", label_de="Alter", kind="number")
    Attribute.objects.create(key="size", label_en="Size", label_de="Größe", kind="choice", choices=["S", "M"])
    response = marketer_client.post(
        reverse("audience:subscriber", args=[subscriber.pk]),
        {"name": "Lea", "language": "de", "attr_age": "many", "attr_size": "XL", "attr_city": "Kiel"},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"attr_age", "attr_size"}
    assert not SubscriberChange.objects.exists()


def test_saving_without_changes_records_nothing(marketer_client, subscriber):
    marketer_client.post(
        reverse("audience:subscriber", args=[subscriber.pk]),
        {"name": "Lea", "language": "de", "attr_city": "Kiel"},
    )
    assert not SubscriberChange.objects.exists()
