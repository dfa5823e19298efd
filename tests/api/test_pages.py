"""The integrations pages: managers only; a key's secret and an endpoint's signing secret shown once;
revocation; the delivery log with its "send test event"; the docs page served without a CDN."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from api.models import ApiKey, WebhookDelivery, WebhookEndpoint
from tests.api.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def test_only_managers_see_the_pages(client, db):
    assert client.get("/integrations/").status_code == 302  # to the login
    client.force_login(User.objects.create_user("someone", password="pw-someone-1"))
    assert client.get("/integrations/").status_code == 403


def test_a_key_is_shown_once_then_only_its_prefix(manager_client, topics):
    page = manager_client.get("/integrations/")
    assert page.status_code == 200
    assert "Integrations" in page.content.decode()
    response = manager_client.post(
        "/integrations/keys/new/",
        {"name": "CRM", "scopes": ["subscribers:read"], "rate_limit_per_minute": "60"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = re.search(r'value="(rb_[^"]+)"', response.content.decode()).group(1)
    key = ApiKey.objects.get()
    assert (key.name, key.scopes, key.rate_limit_per_minute) == ("CRM", ["subscribers:read"], 60)
    assert manager_client.get("/api/v1/topics", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200

    detail = manager_client.get(f"/integrations/keys/{key.pk}/").content.decode()
    assert secret not in detail and f"rb_{key.prefix}_" in detail
    assert secret not in manager_client.get("/integrations/").content.decode()

    manager_client.post(f"/integrations/keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert manager_client.get("/api/v1/topics", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_a_key_form_with_errors_names_them(manager_client):
    response = manager_client.post("/integrations/keys/new/", {"name": "", "rate_limit_per_minute": "0"})
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_endpoint_secret_once_test_event_and_delivery_log(manager_client, django_capture_on_commit_callbacks):
    receiver = Receiver().start()
    try:
        response = manager_client.post(
            "/integrations/webhooks/new/",
            {"url": receiver.url, "events": ["campaign.sent", "reply.received"]},
        )
        assert response.status_code == 200
        receiver.secret = re.search(r'value="(whsec_[^"]+)"', response.content.decode()).group(1)
        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.events == ["campaign.sent", "reply.received"]

        with django_capture_on_commit_callbacks(execute=True):
            manager_client.post(f"/integrations/webhooks/{endpoint.pk}/test/")
        [received] = receiver.accepted
        assert received.event["type"] == "test.ping"
        page = manager_client.get(f"/integrations/webhooks/{endpoint.pk}/").content.decode()
        assert "test.ping" in page and "Delivered" in page
        assert receiver.secret not in page

        manager_client.post(f"/integrations/webhooks/{endpoint.pk}/toggle/")
        endpoint.refresh_from_db()
        assert not endpoint.is_active
        assert (
            "disabled by hand"
            in manager_client.get(f"/integrations/webhooks/{endpoint.pk}/").content.decode()
        )

        rotated = manager_client.post(f"/integrations/webhooks/{endpoint.pk}/secret/").content.decode()
        new_secret = re.search(r'value="(whsec_[^"]+)"', rotated).group(1)
        assert new_secret != receiver.secret

        manager_client.post(f"/integrations/webhooks/{endpoint.pk}/delete/")
        assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()
    finally:
        receiver.stop()


def test_the_openapi_document_and_docs_page(client, db):
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in [
        "/api/v1/subscribers",
        "/api/v1/subscribers/{subscriber_id}/consent-history",
        "/api/v1/campaigns/{campaign_id}/schedule",
        "/api/v1/conversations/{conversation_id}/answer",
        "/api/v1/suppressions",
        "/api/v1/topics",
    ]:
        assert path in paths
    docs = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in docs
    assert "cdn" not in docs.lower() and "https://" not in docs
