"""Topics, subscribers and consent history through /api/v1/ (same rules as the UI)."""

from __future__ import annotations

import pytest

from subscribers.models import ConsentEvent, Subscriber, Suppression, email_hash

pytestmark = pytest.mark.django_db


def test_topics_are_listed_in_pages(api_as, topics):
    api = api_as("subscribers:read")
    first = api.get("/topics", limit=2).json()
    assert [t["slug"] for t in first["items"]] == ["news", "events"]
    second = api.get("/topics", limit=2, after=first["next_after"]).json()
    assert [t["slug"] for t in second["items"]] == ["jobs"] and second["next_after"] is None
    assert api.get("/topics/events").json()["name"] == "Events"
    assert api.get("/topics/nope").status_code == 404


def test_create_starts_the_double_opt_in(api_as, topics, consent, commit_hooks, mailoutbox):
    api = api_as("subscribers:write")
    with commit_hooks():
        response = api.post(
            "/subscribers",
            {
                "email": "Lin@Example.org",
                "name": "Lin",
                "topics": ["news"],
                "language": "en",
                "signup_ip": "192.0.2.7",
            },
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "confirmation_sent"
    assert body["subscriber"]["status"] == "pending"
    assert body["subscriber"]["subscriptions"][0]["status"] == "pending"
    event = ConsentEvent.objects.get()
    assert (event.kind, event.source, event.ip_address, event.consent_text_version) == (
        "requested",
        "api",
        "192.0.2.7",
        consent.version,
    )
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["lin@example.org"]


def test_create_with_prior_consent_confirms_without_a_mail(api_as, topics, consent, commit_hooks, mailoutbox):
    api = api_as("subscribers:write")
    with commit_hooks():
        response = api.post(
            "/subscribers",
            {
                "email": "kim@example.org",
                "topics": ["news", "events"],
                "prior_consent": {"date": "2025-05-04T10:00:00+02:00", "source": "trade fair form"},
            },
        )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "confirmed"
    subscriber = Subscriber.objects.get()
    assert subscriber.status == "confirmed"
    events = ConsentEvent.objects.filter(kind="imported")
    assert events.count() == 2
    assert {e.details["consent_source"] for e in events} == {"trade fair form"}
    assert all(e.details["import_source"].startswith("api key ") for e in events)
    assert mailoutbox == []


def test_prior_consent_cannot_readd_a_suppressed_address(api_as, topics, consent):
    Suppression.objects.create(email_hash=email_hash("gone@example.org"), reason="unsubscribed")
    response = api_as().post(
        "/subscribers",
        {
            "email": "gone@example.org",
            "topics": ["news"],
            "prior_consent": {"date": "2025-01-01", "source": "x"},
        },
    )
    assert response.status_code == 409
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"email": "not-an-address", "topics": ["news"]}, "email", "invalid"),
        ({"email": "a@example.org", "topics": []}, "topics", "required"),
        ({"email": "a@example.org", "topics": ["nope"]}, "topics", "unknown_topics"),
        ({"email": "a@example.org", "topics": ["news"], "language": "fr"}, "language", "literal_error"),
        ({"topics": ["news"]}, "email", "missing"),
        ({"email": "a@example.org", "topics": "news"}, "topics", "list_type"),
        (
            {
                "email": "a@example.org",
                "topics": ["news"],
                "prior_consent": {"date": "2999-01-01", "source": "x"},
            },
            "prior_consent.date",
            "in_the_future",
        ),
    ],
)
def test_bad_input_is_400_naming_the_field(api_as, topics, consent, body, field, code):
    response = api_as().post("/subscribers", body)
    assert response.status_code == 400, response.json()
    assert response.json()["error"] == "invalid"
    assert response.json()["fields"][field]["code"] == code
    assert not Subscriber.objects.exists()


def test_search_read_update(api_as, make_subscriber, commit_hooks, mailoutbox):
    ada = make_subscriber("ada@example.org", topic_slugs=("news",))
    make_subscriber("bob@example.org", name="Bob", topic_slugs=("events",))
    api = api_as()
    assert [s["email"] for s in api.get("/subscribers", q="bob").json()["items"]] == ["bob@example.org"]
    assert [s["email"] for s in api.get("/subscribers", topic="news").json()["items"]] == ["ada@example.org"]
    assert [s["email"] for s in api.get("/subscribers", email="ADA@example.org").json()["items"]] == [
        "ada@example.org"
    ]
    assert api.get(f"/subscribers/{ada.pk}").json()["name"] == "Ada"
    assert api.get("/subscribers/999999").status_code == 404

    with commit_hooks():
        response = api.patch(f"/subscribers/{ada.pk}", {"format": "text", "topics": ["news", "jobs"]})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["subscriber"]["format"] == "text"
    assert body["awaiting_confirmation"] == ["jobs"]  # a new topic needs the subscriber's click
    assert body["confirmation_mail"] == "sent"
    assert len(mailoutbox) == 1
    event = ConsentEvent.objects.filter(kind="preferences_changed").get()
    assert event.details["format"] == ["html", "text"]


def test_unsubscribe_erase_and_consent_history(api_as, make_subscriber):
    ada = make_subscriber()
    api = api_as()
    response = api.post(f"/subscribers/{ada.pk}/unsubscribe", {})
    assert response.status_code == 200
    assert response.json()["status"] == "unsubscribed"
    history = api.get(f"/subscribers/{ada.pk}/consent-history").json()
    assert [(e["kind"], e["source"]) for e in history] == [("unsubscribed", "api")]
    assert api.delete(f"/subscribers/{ada.pk}").status_code == 204
    assert not Subscriber.objects.exists()
    assert Suppression.objects.get().reason == "erased"
    assert api.get(f"/subscribers/{ada.pk}").status_code == 404
