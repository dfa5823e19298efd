"""Topics (create, edit, archive, counts) and fields (typed attributes, labels in de/en)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from subscribers import selectors as subscriber_selectors
from subscribers.models import Attribute, Subscriber, Subscription, Topic
from tests.audience.conftest import make_subscriber, member

pytestmark = pytest.mark.django_db


def test_a_topic_is_created_with_a_short_name_made_from_its_name(marketer_client, marketer):
    response = marketer_client.post(
        reverse("audience:topic_create"),
        {"name": "Termine & Events", "slug": "", "description": "Wann, wo", "is_public": "on", "owner": ""},
    )
    topic = Topic.objects.get(name="Termine & Events")
    assert response.status_code == 302 and response["Location"] == reverse("audience:topic", args=[topic.pk])
    assert topic.slug == "termine-events" and topic.is_public


def test_editing_keeps_the_short_name_and_names_the_owner(marketer_client, topic, marketer):
    anna = member("anna", "Staff")  # the owner answers replies: Staff or Managers, with a name
    response = marketer_client.post(
        reverse("audience:topic_edit", args=[topic.pk]),
        {"name": "Neuigkeiten", "slug": "changed", "description": "", "owner": marketer.pk},
    )
    assert response.status_code == 200 and "owner" in response.context["form"].errors
    response = marketer_client.post(
        reverse("audience:topic_edit", args=[topic.pk]),
        {"name": "Neuigkeiten", "slug": "changed", "description": "", "owner": anna.pk},
    )
    assert response.status_code == 302
    topic.refresh_from_db()
    assert (topic.name, topic.slug, topic.is_public, topic.owner) == ("Neuigkeiten", "news", False, anna)


def test_counts_per_topic(marketer_client, topic):
    make_subscriber("a@example.org", topic)
    make_subscriber("b@example.org", topic)
    pending = make_subscriber("c@example.org", status=Subscriber.Status.PENDING)
    Subscription.objects.create(subscriber=pending, topic=topic, status=Subscription.Status.PENDING)
    listed = marketer_client.get(reverse("audience:topics")).context["topics"]
    assert [(t.name, t.active, t.pending) for t in listed] == [("News", 2, 1)]
    page = marketer_client.get(reverse("audience:topic", args=[topic.pk]))
    assert (page.context["counts"].active, page.context["counts"].pending) == (2, 1)


def test_an_archived_topic_is_no_longer_offered_but_keeps_its_subscribers(marketer_client, topic):
    make_subscriber("a@example.org", topic)
    marketer_client.post(reverse("audience:topic_archive", args=[topic.pk]))
    topic.refresh_from_db()
    assert topic.archived_at is not None
    assert topic not in subscriber_selectors.public_topics()
    assert topic.subscriptions.filter(status="active").count() == 1
    listing = marketer_client.get(reverse("audience:topics")).context
    assert list(listing["topics"]) == [] and [t.pk for t in listing["archived"]] == [topic.pk]
    marketer_client.post(reverse("audience:topic_archive", args=[topic.pk]), {"restore": "1"})
    topic.refresh_from_db()
    assert topic.archived_at is None and topic in subscriber_selectors.public_topics()


def test_a_topic_page_shows_the_audience_per_week_as_a_chart_with_its_numbers(marketer_client, topic):
    make_subscriber("a@example.org", topic)
    Subscription.objects.filter(topic=topic).update(confirmed_at=Subscriber.objects.get().confirmed_at)
    page = marketer_client.get(reverse("audience:topic", args=[topic.pk])).content.decode()
    assert 'data-chart="line"' in page and '<table class="chart-data">' in page
    assert "New confirmations" in page


def test_fields_are_defined_typed_with_labels_in_both_languages(marketer_client):
    response = marketer_client.post(
        reverse("audience:attribute_create"),
        {
            "key": "size",
            "label_en": "Shirt size",
            "label_de": "Shirtgröße",
            "kind": "choice",
            "choices_text": "S\nM\nL\nM",
            "is_public": "on",
        },
    )
    assert response.status_code == 302
    attribute = Attribute.objects.get(key="size")
    assert (attribute.kind, attribute.choices, attribute.is_public) == ("choice", ["S", "M", "L"], True)
    assert attribute.label("de") == "Shirtgröße" and attribute.label("en") == "Shirt size"


def test_a_choice_field_needs_choices(marketer_client):
    response = marketer_client.post(
        reverse("audience:attribute_create"),
        {"key": "size", "label_en": "Size", "label_de": "Größe", "kind": "choice", "choices_text": ""},
    )
    assert response.status_code == 200 and "choices_text" in response.context["form"].errors


def test_deleting_a_field_deletes_every_stored_value_after_a_typed_confirmation(marketer_client, topic):
    attribute = Attribute.objects.create(key="city", label_en="City", label_de="Stadt", kind="text")
    make_subscriber("a@example.org", topic, attributes={"city": "Kiel", "keep": 1})
    marketer_client.post(reverse("audience:attribute_delete", args=[attribute.pk]), {"confirmation": "wrong"})
    assert Attribute.objects.filter(key="city").exists()
    marketer_client.post(reverse("audience:attribute_delete", args=[attribute.pk]), {"confirmation": "city"})
    assert not Attribute.objects.filter(key="city").exists()
    assert Subscriber.objects.get().attributes == {"keep": 1}
