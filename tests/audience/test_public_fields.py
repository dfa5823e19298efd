"""Fields marked public may be asked on the signup page and in the API; stored for new subscribers only."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from subscribers.models import Attribute, ConsentEvent, ConsentText, Subscriber
from tests.audience.conftest import make_subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def public_fields(topic):
    Attribute.objects.create(key="city", label_en="City", label_de="Stadt", kind="text", is_public=True)
    Attribute.objects.create(key="age", label_en="Age", label_de="Alter", kind="number", is_public=True)
    Attribute.objects.create(key="score", label_en="Score", label_de="Punkte", kind="number")  # not public
    return topic


def consent() -> ConsentText:
    return ConsentText.objects.filter(language="en").first() or ConsentText.objects.first()


def test_the_signup_page_asks_only_the_public_fields(client, public_fields):
    page = client.get(reverse("subscribers:signup")).content.decode()
    assert 'name="attr_city"' in page and 'name="attr_age"' in page and 'name="attr_score"' not in page


def test_a_signup_stores_the_public_fields_of_a_new_subscriber(client, public_fields):
    text = consent()
    response = client.post(
        reverse("subscribers:signup"),
        {
            "email": "neu@example.org",
            "topics": [public_fields.pk],
            "language": text.language,
            "consent_version": text.version,
            "attr_city": "Kiel",
            "attr_age": "",
        },
        HTTP_ACCEPT_LANGUAGE=text.language,
    )
    assert response.status_code == 302
    subscriber = Subscriber.objects.get(email="neu@example.org")
    assert subscriber.attributes == {"city": "Kiel"}
    assert ConsentEvent.objects.get(subscriber=subscriber, kind="requested").details["fields_given"] == [
        "city"
    ]


def test_the_api_takes_public_fields_and_refuses_others(client, public_fields):
    def post(body: dict):
        return client.post(
            reverse("subscribers:api_subscribe"), json.dumps(body), content_type="application/json"
        )

    base = {"email": "api@example.org", "topics": ["news"]}
    refused = post({**base, "attributes": {"score": 3}})
    assert (
        refused.status_code == 400 and refused.json()["fields"]["attributes"]["code"] == "unknown_attributes"
    )
    wrong = post({**base, "attributes": {"age": "old"}})
    assert wrong.status_code == 400 and "attributes.age" in wrong.json()["fields"]
    assert post({**base, "attributes": {"age": "41", "city": "Ulm"}}).status_code == 202
    assert Subscriber.objects.get(email="api@example.org").attributes == {"age": 41, "city": "Ulm"}


def test_someone_who_knows_an_address_cannot_change_its_fields(client, public_fields):
    make_subscriber("known@example.org", public_fields, attributes={"city": "Kiel"})
    body = {"email": "known@example.org", "topics": ["news"], "attributes": {"city": "Ulm"}}
    client.post(reverse("subscribers:api_subscribe"), json.dumps(body), content_type="application/json")
    assert Subscriber.objects.get(email="known@example.org").attributes == {"city": "Kiel"}
