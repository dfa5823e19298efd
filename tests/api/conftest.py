"""Fixtures for the REST API: keys with chosen scopes, a client that sends them, topics, consent."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, User

from api import keys
from api.models import Scope
from tests.campaigns.conftest import smtp_settings, smtp_sink  # noqa: F401
from tests.subscribers.conftest import commit_hooks, consent, make_subscriber, topics  # noqa: F401

ALL_SCOPES = tuple(Scope.values)


@pytest.fixture
def manager(db) -> User:
    user = User.objects.create_user("clara", password="pw-clara-123", first_name="Clara")
    user.groups.add(Group.objects.get(name="Managers"))
    return user


@pytest.fixture
def make_key(manager):
    def make(*scopes: str, rate_limit_per_minute: int = 1000, **extra) -> str:
        return keys.create_key(
            name="test key",
            scopes=scopes or ALL_SCOPES,
            created_by=manager,
            rate_limit_per_minute=rate_limit_per_minute,
            **extra,
        ).secret

    return make


class ApiClient:
    def __init__(self, client, secret: str | None):
        self.client, self.secret = client, secret

    def _headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"} if self.secret else {}

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1{path}", params, **self._headers())

    def send(self, method: str, path: str, body: dict | None = None):
        call = getattr(self.client, method)
        return call(
            f"/api/v1{path}",
            json.dumps(body) if body is not None else "",
            content_type="application/json",
            **self._headers(),
        )

    def post(self, path: str, body: dict | None = None):
        return self.send("post", path, body if body is not None else {})

    def patch(self, path: str, body: dict):
        return self.send("patch", path, body)

    def delete(self, path: str):
        return self.send("delete", path)


@pytest.fixture
def api_as(client, make_key):
    """api_as("subscribers:read") -> a client with a new key of these scopes (all when none)."""

    def make(*scopes: str, **extra) -> ApiClient:
        return ApiClient(client, make_key(*scopes, **extra))

    return make
