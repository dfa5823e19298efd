"""Subscribers see, change and delete their own field values in the preference centre."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from subscribers import selectors, tokens
from subscribers.models import Attribute, ConsentEvent
from tests.audience.conftest import make_subscriber

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def fields():
    Attribute.objects.create(key="city", label_en="City", label_de="Stadt", kind="text")
    Attribute.objects.create(key="member", label_en="Member", label_de="Mitglied", kind="yes_no")


def test_no_field_is_shown_until_one_is_defined(client, topic):
    subscriber = make_subscriber("lea@example.org", topic)
    page = client.get(path_of(tokens.preferences_url(subscriber.pk))).content.decode()
    assert 'id="your-details"' not in page


def test_a_subscriber_sees_their_values_in_their_language(client, topic, fields):
    subscriber = make_subscriber("lea@example.org", topic, language="de", attributes={"city": "Kiel"})
    page = client.get(path_of(tokens.preferences_url(subscriber.pk))).content.decode()
    assert 'id="your-details"' in page and "Stadt" in page and 'value="Kiel"' in page


def test_a_subscriber_changes_and_deletes_their_values(client, topic, fields):
    subscriber = make_subscriber("lea@example.org", topic, attributes={"city": "Kiel", "member": True})
    token = path_of(tokens.preferences_url(subscriber.pk)).rstrip("/").rsplit("/", 1)[1]
    response = client.post(
        reverse("subscribers:preferences_fields", args=[token]), {"attr-city": "", "attr-member": "no"}
    )
    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.attributes == {"member": False}
    event = ConsentEvent.objects.get(subscriber=subscriber, kind="preferences_changed")
    assert event.details == {"fields_changed": ["city", "member"]}  # which, not the values
    assert event.source == "preference_centre"
    assert selectors.subscriber_export(subscriber)["subscriber"]["attributes"] == {"member": False}


def test_a_wrong_value_is_refused(client, topic):
    Attribute.objects.create(key="age", label_en="Age", label_de="Alter", kind="number")
    subscriber = make_subscriber("lea@example.org", topic)
    token = path_of(tokens.preferences_url(subscriber.pk)).rstrip("/").rsplit("/", 1)[1]
    client.post(reverse("subscribers:preferences_fields", args=[token]), {"attr-age": "old"})
    subscriber.refresh_from_db()
    assert subscriber.attributes == {}


def test_a_forged_link_changes_nothing(client, topic, fields):
    subscriber = make_subscriber("lea@example.org", topic, attributes={"city": "Kiel"})
    response = client.post(reverse("subscribers:preferences_fields", args=["forged"]), {"attr-city": "Ulm"})
    assert response.status_code in (400, 403, 404, 200)
    subscriber.refresh_from_db()
    assert subscriber.attributes == {"city": "Kiel"}
