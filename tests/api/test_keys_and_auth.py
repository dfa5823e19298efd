"""API keys: stored hashed, scopes, expiry, revocation, last use, rate limit, writes recorded."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from api import keys
from api.models import ApiKey, ApiWrite
from subscribers.models import Subscriber

pytestmark = pytest.mark.django_db


def test_a_key_is_stored_only_as_its_hash(manager):
    made = keys.create_key(name="CRM", scopes=["subscribers:read"], created_by=manager)
    row = ApiKey.objects.get()
    assert made.secret.startswith(f"rb_{row.prefix}_")
    assert made.secret not in str(ApiKey.objects.values().get())
    assert row.secret_hash == hashlib.sha256(made.secret.encode()).hexdigest()


def test_no_key_or_a_wrong_one_is_401(client, api_as, topics):
    assert client.get("/api/v1/topics").status_code == 401
    response = client.get("/api/v1/topics", HTTP_AUTHORIZATION="Bearer rb_00000000_nope")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_key_without_the_scope_gets_403_and_creates_nobody(api_as, topics, consent):
    api = api_as("subscribers:read")
    response = api.post("/subscribers", {"email": "ada@example.org", "topics": ["news"]})
    assert response.status_code == 403
    assert response.json() == {
        "error": "missing_scope",
        "message": "This API key lacks the scope “subscribers:write”.",
    }
    assert not Subscriber.objects.exists()
    # ... and the refused write is recorded with the key.
    write = ApiWrite.objects.get()
    assert (write.method, write.path, write.status_code) == ("POST", "/api/v1/subscribers", 403)


def test_revoked_and_expired_keys_are_refused(client, manager, topics):
    revoked = keys.create_key(name="old", scopes=["subscribers:read"], created_by=manager)
    keys.revoke_key(key=revoked.key)
    expired = keys.create_key(
        name="temp",
        scopes=["subscribers:read"],
        created_by=manager,
        expires_at=timezone.now() + timedelta(minutes=1),
    )
    ApiKey.objects.filter(pk=expired.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for made in (revoked, expired):
        assert client.get("/api/v1/topics", HTTP_AUTHORIZATION=f"Bearer {made.secret}").status_code == 401


def test_last_use_is_recorded(client, manager, topics, frozen_clock):
    made = keys.create_key(name="CRM", scopes=["subscribers:read"], created_by=manager)
    assert client.get("/api/v1/topics", HTTP_AUTHORIZATION=f"Bearer {made.secret}").status_code == 200
    made.key.refresh_from_db()
    assert made.key.last_used_at == timezone.now()


def test_each_key_has_its_own_rate_limit(api_as, topics, frozen_clock):
    slow, fast = api_as("subscribers:read", rate_limit_per_minute=2), api_as("subscribers:read")
    assert [slow.get("/topics").status_code for _ in range(3)] == [200, 200, 429]
    refused = slow.get("/topics")
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert fast.get("/topics").status_code == 200


def test_every_write_is_recorded_with_its_key(api_as, topics, consent, make_subscriber):
    api = api_as()
    subscriber = make_subscriber()
    assert api.post(f"/subscribers/{subscriber.pk}/unsubscribe", {"topics": ["news"]}).status_code == 200
    api.get(f"/subscribers/{subscriber.pk}")  # reads are not recorded
    write = ApiWrite.objects.get()
    assert write.key == ApiKey.objects.get()
    assert (write.method, write.path, write.status_code) == (
        "POST",
        f"/api/v1/subscribers/{subscriber.pk}/unsubscribe",
        200,
    )
