"""Property-based test of the whole REST API against its own OpenAPI document (schemathesis).

Every operation is called with generated requests (bounded: a few examples each, a deadline per
example) and a key with every scope, on a small data set (topics, consent texts, a subscriber, a
campaign, a conversation, two attributes, a segment); no answer may be a 5xx, and every answer
must be documented: its status code, content type and body schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from campaigns.services import save_campaign
from replies.models import Conversation, Message
from subscribers.models import Attribute, Segment
from tests.campaigns.conftest import BODY
from tests.replies.conftest import make_staff

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# The document is read from the application itself (no database needed for it).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture
def _connection_kept(db):
    """The calls go through the real WSGI application, inside the test's transaction: like Django's
    test client, keep the request signals from closing the connection (it is in an atomic block)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(_connection_kept, topics, consent, make_subscriber, make_key, mailoutbox):
    staff = make_staff("anna.berg", display_name="Anna Berg")
    for topic in topics.values():
        topic.owner = staff
        topic.save()
    ada = make_subscriber()
    save_campaign(name="Herbst", topics=[topics["news"]], subject="Herbst", mjml_body=BODY, contact=staff)
    conversation = Conversation.objects.create(subscriber=ada, subject="Frage", waiting_since=timezone.now())
    Message.objects.create(conversation=conversation, direction="in", from_address=ada.email, text="Hallo?")
    Attribute.objects.create(
        key="plan", label_en="Plan", label_de="Tarif", kind="choice", choices=["free", "pro"]
    )
    Attribute.objects.create(key="age", label_en="Age", label_de="Alter", kind="number")
    Segment.objects.create(name="Pro", definition={"attributes": [{"key": "plan", "value": "pro"}]})
    return {"Authorization": f"Bearer {make_key(rate_limit_per_minute=100_000)}"}


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=3000,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_every_operation_answers_as_documented(case, world):
    case.call_and_validate(headers=world, checks=CHECKS)
