"""Subscribers confirmed by an import are announced like single ones: one `subscriber.confirmed`
event each (rundbrief.events.emit_imported), queued in bulk (a task per batch, deliveries inserted
together), delivered to a real receiver that checks the signatures."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from api import webhooks
from api.models import WebhookDelivery
from rundbrief import events
from subscribers import importing
from subscribers.models import ConsentEvent, Subscriber
from tests.api.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def endpoint(receiver, manager):
    made = webhooks.create_endpoint(url=receiver.url, events=["subscriber.confirmed"], created_by=manager)
    receiver.secret = made.secret
    return made.endpoint


def _row(line: int, email: str, consent_date: datetime | None) -> importing.Row:
    return importing.Row(
        line=line, email=email, name="", language="de", consent_date=consent_date, consent_source="fair"
    )


def test_each_subscriber_an_import_confirmed_is_announced_once(
    endpoint, receiver, topics, consent, django_capture_on_commit_callbacks, mailoutbox
):
    before = timezone.now() - timedelta(days=30)
    rows = [_row(n, f"r{n}@example.org", before) for n in range(2, 5)] + [_row(5, "optin@example.org", None)]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        importing.import_rows(rows=rows, topic=topics["news"], source="CRM export")
        # What the import does after writing its rows (the lead wires it into import_rows).
        confirmed = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.IMPORTED).values_list(
            "subscriber_id", flat=True
        )
        events.emit_imported(subscriber_ids=list(confirmed), topic_slugs=[topics["news"].slug])
    received = [r.event for r in receiver.accepted]
    assert len(received) == 3 and receiver.refused == []
    assert {e["type"] for e in received} == {"subscriber.confirmed"}
    assert len({e["id"] for e in received}) == 3  # one event each, not one for the batch
    assert sorted(e["data"]["subscriber"]["email"] for e in received) == [
        "r2@example.org",
        "r3@example.org",
        "r4@example.org",
    ]
    for event in received:
        assert event["data"]["prior_consent"] is True and event["data"]["topics"] == ["news"]
        assert event["data"]["subscriber"]["topics"] == ["news"]
        assert event["data"]["subscriber_id"] == event["data"]["subscriber"]["id"]
    # The row that got the opt-in mail is announced by its own click, as a single signup is.
    assert Subscriber.objects.get(email="optin@example.org").status == "pending"


def test_an_import_is_queued_a_batch_per_task_not_a_task_per_row(
    endpoint, manager, receiver, make_subscriber, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(events, "BATCH", 2)
    with django_capture_on_commit_callbacks() as queued:
        events.emit_imported(subscriber_ids=[1, 2, 3, 4, 5, 5], topic_slugs=["news"])
    assert len(queued) == 3  # 5 subscribers (the repeated one once), batches of 2


def test_a_batch_is_read_and_inserted_together(
    endpoint, receiver, manager, make_subscriber, django_assert_max_num_queries
):
    second = webhooks.create_endpoint(url=receiver.url, events=["subscriber.confirmed"], created_by=manager)
    ids = [make_subscriber(f"s{n}@example.org").pk for n in range(40)]
    with django_assert_max_num_queries(8):  # not one per subscriber
        made = webhooks.fan_out_each(
            event="subscriber.confirmed",
            subscriber_ids=ids,
            data={"topics": ["news"], "prior_consent": True},
            occurred_at=timezone.now().isoformat(),
        )
    assert made == 80
    per_endpoint = WebhookDelivery.objects.filter(endpoint=second.endpoint)
    assert sorted(d.payload["data"]["subscriber_id"] for d in per_endpoint) == sorted(ids)
    # Both endpoints get the same event (the same id to deduplicate on) for each subscriber.
    first = {
        d.payload["data"]["subscriber_id"]: d.event_id
        for d in WebhookDelivery.objects.filter(endpoint=endpoint)
    }
    assert all(first[d.payload["data"]["subscriber_id"]] == d.event_id for d in per_endpoint)


def test_an_unknown_event_is_refused_at_once():
    with pytest.raises(ValueError, match="unknown event"):
        events.emit_for_subscribers("subscriber.imported", [1])
