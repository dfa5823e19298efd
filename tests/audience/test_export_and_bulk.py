"""CSV export of any filter result (streamed, with the consent proof) and the bulk actions."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from audience.filters import AudienceFilter
from subscribers.models import (
    Attribute,
    ConsentEvent,
    Segment,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
    email_hash,
)
from tests.audience.conftest import make_subscriber, member

pytestmark = pytest.mark.django_db


def read_csv(response) -> list[dict]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_export_streams_the_filter_result_with_the_consent_proof(marketer_client, topic):
    Attribute.objects.create(key="city", label_en="City", label_de="Stadt", kind="text")
    ada = make_subscriber("ada@example.org", topic, name="Ada", language="en", attributes={"city": "Kiel"})
    ConsentEvent.objects.create(
        subscriber=ada,
        email_hash=ada.email_hash,
        kind="requested",
        source="form",
        ip_address="192.0.2.1",
        user_agent="Firefox",
        consent_text_version="v2",
    )
    ConsentEvent.objects.create(
        subscriber=ada, email_hash=ada.email_hash, kind="confirmed", source="link", ip_address="192.0.2.2"
    )
    bob = make_subscriber("bob@example.org", topic)
    ConsentEvent.objects.create(
        subscriber=bob,
        email_hash=bob.email_hash,
        kind="imported",
        source="import",
        details={"consent_date": "2025-03-01T00:00:00+01:00", "consent_source": "Messe"},
    )
    make_subscriber("de@example.org", topic, language="de")
    response = marketer_client.get(reverse("audience:export"), {"q": "example.org", "language": "en"})
    assert response["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert [row["email"] for row in rows] == ["ada@example.org"]
    row = rows[0]
    assert (row["optin_ip"], row["optin_user_agent"], row["consent_text_version"], row["optin_source"]) == (
        "192.0.2.1",
        "Firefox",
        "v2",
        "form",
    )
    assert row["confirmation_ip"] == "192.0.2.2" and row["topics"] == "news"
    assert row["attribute_city"] == "Kiel"
    everyone = read_csv(marketer_client.get(reverse("audience:export")))
    imported = next(row for row in everyone if row["email"] == "bob@example.org")
    assert (imported["prior_consent_date"], imported["prior_consent_source"]) == (
        "2025-03-01T00:00:00+01:00",
        "Messe",
    )


def test_a_segment_is_exported_too(marketer_client, topic):
    make_subscriber("en@example.org", topic, language="en")
    make_subscriber("de@example.org", topic)
    segment = Segment.objects.create(name="English", definition=AudienceFilter(language="en").as_json())
    rows = read_csv(marketer_client.get(reverse("audience:segment_export", args=[segment.pk])))
    assert [row["email"] for row in rows] == ["en@example.org"]


def test_bulk_add_to_a_topic_skips_the_unconfirmed_and_suppressed_and_records_who(marketer_client, topic):
    events = Topic.objects.create(slug="events", name="Events")
    a = make_subscriber("a@example.org", topic)
    b = make_subscriber("b@example.org", topic, status=Subscriber.Status.PENDING)
    c = make_subscriber("c@example.org", topic)
    Suppression.objects.create(email_hash=email_hash("c@example.org"), reason="complaint")
    response = marketer_client.post(
        reverse("audience:bulk"),
        {
            "action": "add_topic",
            "scope": "selected",
            "selected": [a.pk, b.pk, c.pk],
            "target_topic": events.pk,
        },
    )
    assert response.status_code == 302
    assert list(Subscription.objects.filter(topic=events).values_list("subscriber__email", "status")) == [
        ("a@example.org", "active")
    ]
    event = ConsentEvent.objects.get(subscriber=a, kind="preferences_changed")
    assert event.source == "admin" and event.details == {"topics_added": ["events"], "by": "mara"}


def test_bulk_remove_applies_to_the_whole_filter_result(marketer_client, topic):
    for address, language in [("a@example.org", "en"), ("b@example.org", "en"), ("c@example.org", "de")]:
        make_subscriber(address, topic, language=language)
    marketer_client.post(
        reverse("audience:bulk"),
        {"action": "remove_topic", "scope": "all", "language": "en", "target_topic": topic.pk},
    )
    assert sorted(
        Subscription.objects.filter(topic=topic, status="active").values_list("subscriber__email", flat=True)
    ) == ["c@example.org"]


def test_bulk_erase_needs_the_typed_confirmation(marketer_client, topic):
    a = make_subscriber("a@example.org", topic)
    make_subscriber("b@example.org", topic)
    marketer_client.post(
        reverse("audience:bulk"), {"action": "erase", "scope": "selected", "selected": [a.pk]}
    )
    assert Subscriber.objects.count() == 2
    marketer_client.post(
        reverse("audience:bulk"),
        {"action": "erase", "scope": "selected", "selected": [a.pk], "confirmation": "ERASE"},
    )
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["b@example.org"]
    assert Suppression.objects.get(email_hash=email_hash("a@example.org")).reason == "erased"


def test_bulk_export_of_a_selection(marketer_client, topic):
    a = make_subscriber("a@example.org", topic)
    make_subscriber("b@example.org", topic)
    response = marketer_client.post(
        reverse("audience:bulk"), {"action": "export", "scope": "selected", "selected": [a.pk]}
    )
    assert [row["email"] for row in read_csv(response)] == ["a@example.org"]


def test_the_export_needs_the_desk_permission(client, topic):
    client.force_login(member("sven", "Staff"))
    assert client.get(reverse("audience:export")).status_code == 403
