"""POST /api/subscribe: JSON in, 202 or a clear JSON error out; CORS; rate limit."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from subscribers.models import ConsentEvent, Subscriber

pytestmark = pytest.mark.django_db

URL = "/api/subscribe"


def call(client, body, **extra):
    payload = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(URL, payload, content_type="application/json", **extra)


def test_accepts_a_valid_request(client, topics, consent, commit_hooks, mailoutbox):
    with commit_hooks():
        response = call(
            client,
            {"email": "Lin@Example.org", "name": "Lin", "topics": ["news", "jobs"], "language": "de"},
            REMOTE_ADDR="192.0.2.44",
            HTTP_USER_AGENT="EmbedForm/2",
        )
    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.name, subscriber.language) == ("lin@example.org", "Lin", "de")
    event = ConsentEvent.objects.get()
    assert (event.source, event.ip_address, event.user_agent) == ("api", "192.0.2.44", "EmbedForm/2")
    assert event.topics == ["jobs", "news"]
    german = consent.__class__.objects.get(version=consent.version, language="de")
    assert event.consent_text == german.text
    assert len(mailoutbox) == 1


def test_enumeration_safe(client, topics, consent, make_subscriber):
    make_subscriber("known@example.org")
    known = call(client, {"email": "known@example.org", "topics": ["news"]})
    unknown = call(client, {"email": "new@example.org", "topics": ["news"]})
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)


@pytest.mark.parametrize("body", ["{not json", b"\xff\xfe", ""])
def test_malformed_json(client, topics, body):
    response = call(client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"


@pytest.mark.parametrize("body", ["[]", '"a string"', "3", "null"])
def test_body_must_be_an_object(client, topics, body):
    response = call(client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"email": "no-at-sign", "topics": ["news"]}, "email", "invalid_email"),
        ({"topics": ["news"]}, "email", "required"),
        ({"email": 42, "topics": ["news"]}, "email", "wrong_type"),
        ({"email": "a@example.org", "topics": "news"}, "topics", "wrong_type"),
        ({"email": "a@example.org", "topics": [1, 2]}, "topics", "wrong_type"),
        ({"email": "a@example.org", "topics": []}, "topics", "required"),
        ({"email": "a@example.org", "topics": ["news", "nope", "gone"]}, "topics", "unknown_topics"),
        ({"email": "a@example.org", "topics": ["news"], "name": ["x"]}, "name", "wrong_type"),
        ({"email": "a@example.org", "topics": ["news"], "name": "x" * 201}, "name", "too_long"),
        ({"email": "a@example.org", "topics": ["news"], "language": "fr"}, "language", "invalid_language"),
        (
            {"email": "a@example.org", "topics": ["news"], "consent_version": 1},
            "consent_version",
            "wrong_type",
        ),
        (
            {"email": "a@example.org", "topics": ["news"], "consent_version": "0.9"},
            "consent_version",
            "unknown_consent_version",
        ),
        ({"email": "a@example.org", "topics": ["news"], "mail": "typo"}, "_", "unknown_fields"),
    ],
)
def test_field_errors_are_explained(client, topics, consent, body, field, code):
    response = call(client, body)
    assert response.status_code == 400
    data = response.json()
    assert data["error"] == "invalid"
    assert data["fields"][field]["code"] == code
    assert data["fields"][field]["message"]
    assert not Subscriber.objects.exists()


def test_unknown_topics_are_named(client, topics, consent):
    data = call(client, {"email": "a@example.org", "topics": ["news", "nope"]}).json()
    assert "nope" in data["fields"]["topics"]["message"]


def test_private_topics_are_unknown_to_the_api(client, topics, consent):
    topics["jobs"].is_public = False
    topics["jobs"].save()
    data = call(client, {"email": "a@example.org", "topics": ["jobs"]}).json()
    assert data["fields"]["topics"]["code"] == "unknown_topics"


def test_all_errors_are_reported_at_once(client, topics, consent):
    data = call(client, {"email": "bad", "topics": ["nope"], "language": "xx"}).json()
    assert set(data["fields"]) == {"email", "topics", "language"}


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_no_csrf_token_needed(topics, consent):
    from django.test import Client

    response = call(Client(enforce_csrf_checks=True), {"email": "a@example.org", "topics": ["news"]})
    assert response.status_code == 202


@override_settings(CORS_ALLOWED_ORIGINS=["https://www.example.org"])
def test_cors_for_configured_origins(client, topics, consent):
    preflight = client.options(
        URL,
        HTTP_ORIGIN="https://www.example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert preflight["Access-Control-Allow-Origin"] == "https://www.example.org"
    response = call(
        client, {"email": "a@example.org", "topics": ["news"]}, HTTP_ORIGIN="https://www.example.org"
    )
    assert response["Access-Control-Allow-Origin"] == "https://www.example.org"
    other = call(client, {"email": "b@example.org", "topics": ["news"]}, HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other


@pytest.mark.usefixtures("frozen_clock")
@override_settings(SUBSCRIBE_RATE_LIMIT="2/m")
def test_rate_limited_with_json_429(client, topics, consent):
    codes = [call(client, {"email": f"r{i}@example.org", "topics": ["news"]}).status_code for i in range(3)]
    assert codes == [202, 202, 429]
    response = call(client, {"email": "x@example.org", "topics": ["news"]})
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert Subscriber.objects.count() == 2


def test_consent_text_for_embedding_forms(client, consent, commit_hooks):
    data = client.get("/api/consent-text", {"language": "de"}).json()
    assert data["language"] == "de" and data["version"] == consent.version and data["text"]
    assert client.get("/api/consent-text", {"language": "fr"}).status_code == 400
    assert client.get("/api/consent-text").json()["language"] == "en"
