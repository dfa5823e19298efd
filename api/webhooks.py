"""Webhooks out: endpoints, fan-out of announced events, signed deliveries with retries.

- An event announced by an app (rundbrief.events.emit) reaches `fan_out` after the app's
  commit: the payload is built once (the ids in it enriched with the current rows), and each
  active endpoint subscribed to it gets a WebhookDelivery row, sent by a task on `default`.
- `deliver` claims a row (a conditional UPDATE that leases it, so a duplicate task does not
  send it twice at once), POSTs the JSON body signed (api.signing) to an address checked in
  the same attempt (api.outbound: resolved once, pinned, no redirects followed), and records
  the answer. 2xx: delivered. Anything else: retried after 30 s, 1, 2, 4 ... min
  (WEBHOOK_RETRY_BASE_SECONDS, doubling, at most WEBHOOK_RETRY_MAX_SECONDS) up to
  WEBHOOK_MAX_ATTEMPTS; every failed attempt counts against the endpoint, and after
  WEBHOOK_DISABLE_AFTER_FAILURES failures in a row (no success between) it is disabled.
- Many subscribers announced at once (rundbrief.events.emit_for_subscribers, e.g. an import)
  reach `fan_out_each` a batch at a time: still one event and payload per subscriber, but read
  with one query and inserted with one statement.
- A beat task re-enqueues rows whose retry was lost (broker restarted).
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api import outbound, selectors, signing
from api.models import WebhookDelivery, WebhookEndpoint
from rundbrief import secretbox
from rundbrief.effects import Enqueue, after_commit
from rundbrief.events import EVENTS, TEST_EVENT
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)
D = WebhookDelivery.Status
DELIVER_TASK = "api.tasks.deliver_webhook_task"
RESPONSE_KEPT_CHARS = 2000
USER_AGENT = "Rundbrief-Webhooks/1"


# --- Endpoints (managed on the integrations pages) --------------------------------------------


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def _check_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise ValueError(f"unknown events: {', '.join(unknown)}")
    return sorted(set(events))


def create_endpoint(
    *, url: str, events: Sequence[str], description: str = "", created_by: AbstractBaseUser | None
) -> NewEndpoint:
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        events=_check_events(events),
        description=description.strip(),
        secret_encrypted=secretbox.encrypt(secret),
        created_by=created_by,
    )
    return NewEndpoint(endpoint=endpoint, secret=secret)


def update_endpoint(*, endpoint: WebhookEndpoint, url: str, events: Sequence[str], description: str) -> None:
    endpoint.url = url
    endpoint.events = _check_events(events)
    endpoint.description = description.strip()
    endpoint.save(update_fields=["url", "events", "description"])


def rotate_secret(*, endpoint: WebhookEndpoint) -> str:
    secret = "whsec_" + secrets.token_urlsafe(32)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret_encrypted=secretbox.encrypt(secret))
    return secret


def set_active(*, endpoint: WebhookEndpoint, active: bool) -> None:
    """Enable (counting failures afresh) or disable by hand."""
    if active:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            is_active=True, consecutive_failures=0, disabled_at=None, disabled_reason=""
        )
    else:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            is_active=False, disabled_at=timezone.now(), disabled_reason="disabled by hand"
        )
    endpoint.refresh_from_db()


def delete_endpoint(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def send_test_event(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `test.ping` delivery to this endpoint (enabled or not), sent at once by the task."""
    payload = _envelope(
        uuid.uuid4(), TEST_EVENT, timezone.now().isoformat(), {"message": "Hello from Rundbrief"}
    )
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event_id=payload["id"], event=TEST_EVENT, payload=payload
        )
        after_commit(Enqueue(DELIVER_TASK, (delivery.pk,)))
    return delivery


# --- Fan-out --------------------------------------------------------------------------------


def _envelope(event_id: uuid.UUID, event: str, occurred_at: str, data: dict) -> dict:
    return {"id": str(event_id), "type": event, "created_at": occurred_at, "data": data}


def _json_ready(value: dict) -> dict:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def event_data(data: dict, *, subscribers: dict[int, Subscriber] | None = None) -> dict:
    """The event's values, with the subscriber, conversation and campaign they name as they are now
    (``subscribers``: already read, with their subscriptions, by id)."""
    enriched = dict(data)
    if (pk := data.get("subscriber_id")) and (
        subscriber := subscribers.get(pk) if subscribers is not None else selectors.subscriber(pk)
    ) is not None:
        enriched["subscriber"] = {
            "id": subscriber.pk,
            "email": subscriber.email,
            "name": subscriber.name,
            "language": subscriber.language,
            "status": subscriber.status,
            "topics": sorted(s.topic.slug for s in subscriber.subscriptions.all() if s.status == "active"),
        }
    if (pk := data.get("conversation_id")) and (conversation := selectors.conversation(pk)) is not None:
        enriched["conversation"] = {
            "id": conversation.pk,
            "subject": conversation.subject,
            "status": conversation.status,
            "subscriber_id": conversation.subscriber_id,
            "campaign_id": conversation.campaign_id,
            "assignee": conversation.assignee.get_username() if conversation.assignee_id else None,
        }
    if (pk := data.get("campaign_id")) and (campaign := selectors.campaign(pk)) is not None:
        enriched["campaign"] = {
            "id": campaign.pk,
            "name": campaign.name,
            "subject": campaign.subject,
            "status": campaign.status,
            "started_at": campaign.started_at,
            "finished_at": campaign.finished_at,
        }
    return _json_ready(enriched)


def fan_out(*, event: str, data: dict, occurred_at: str) -> int:
    """One delivery per active endpoint subscribed to the event; returns how many."""
    endpoints = selectors.endpoints_for(event)
    if not endpoints:
        return 0
    payload = _envelope(uuid.uuid4(), event, occurred_at, event_data(data))
    with transaction.atomic():
        rows = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(endpoint=endpoint, event_id=payload["id"], event=event, payload=payload)
                for endpoint in endpoints
            ]
        )
        after_commit(*(Enqueue(DELIVER_TASK, (row.pk,)) for row in rows))
    return len(rows)


def fan_out_each(*, event: str, subscriber_ids: list[int], data: dict, occurred_at: str) -> int:
    """One event per subscriber (its own id and payload), their deliveries inserted together."""
    endpoints = selectors.endpoints_for(event)
    if not endpoints or not subscriber_ids:
        return 0
    known = {subscriber.pk: subscriber for subscriber in selectors.subscribers_by_id(subscriber_ids)}
    rows = []
    for pk in subscriber_ids:
        payload = _envelope(
            uuid.uuid4(), event, occurred_at, event_data({**data, "subscriber_id": pk}, subscribers=known)
        )
        rows += [
            WebhookDelivery(endpoint=endpoint, event_id=payload["id"], event=event, payload=payload)
            for endpoint in endpoints
        ]
    with transaction.atomic():
        created = WebhookDelivery.objects.bulk_create(rows, batch_size=1000)
        after_commit(*(Enqueue(DELIVER_TASK, (row.pk,)) for row in created))
    return len(created)


# --- Delivery -------------------------------------------------------------------------------


def retry_delay(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` failed ones (30 s, 60 s, 120 s ...)."""
    base, most = settings.WEBHOOK_RETRY_BASE_SECONDS, settings.WEBHOOK_RETRY_MAX_SECONDS
    return int(min(most, base * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Attempt:
    status: str
    retry_in: int | None = None


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def _claim(delivery_id: int) -> bool:
    """Lease the row for one attempt; False if it is done, or another attempt holds it now."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 2 + 30)
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, status__in=[D.PENDING, D.RETRYING])
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(attempts=F("attempts") + 1, next_attempt_at=lease)
    )


def deliver(*, delivery_id: int) -> Attempt:
    if not _claim(delivery_id):
        status = WebhookDelivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
        return Attempt(status or "")
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active and delivery.event != TEST_EVENT:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=D.FAILED, next_attempt_at=None, error="endpoint disabled"
        )
        return Attempt(D.FAILED)
    body = body_of(delivery)
    try:
        target = outbound.resolve(endpoint.url)  # once per attempt; the connection goes there
    except outbound.Refused as exc:
        return _failed(delivery, None, "", f"not sent: {exc}")
    try:
        secret = secretbox.decrypt(endpoint.secret_encrypted)
    except secretbox.SecretUnreadable as exc:
        return _failed(delivery, None, "", str(exc))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Rundbrief-Event": delivery.event,
        "Rundbrief-Event-Id": str(delivery.event_id),
        "Rundbrief-Delivery": str(delivery.pk),
        signing.HEADER: signing.sign(secret, body),
    }
    try:
        answer = outbound.post(
            target,
            body=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            keep_chars=RESPONSE_KEPT_CHARS,
        )
    except outbound.SendFailed as exc:
        return _failed(delivery, None, "", str(exc)[:1000])
    text = answer.text
    if 200 <= answer.status < 300:
        now = timezone.now()
        with transaction.atomic():
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=D.SUCCEEDED,
                delivered_at=now,
                next_attempt_at=None,
                response_status=answer.status,
                response_body=text,
                error="",
            )
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        return Attempt(D.SUCCEEDED)
    if 300 <= answer.status < 400:
        where = f" to {answer.location[:300]}" if answer.location else ""
        return _failed(delivery, answer.status, text, f"HTTP {answer.status}: redirect{where} not followed")
    return _failed(delivery, answer.status, text, f"HTTP {answer.status}")


def _failed(delivery: WebhookDelivery, status_code: int | None, text: str, error: str) -> Attempt:
    attempts = delivery.attempts  # already counted by the claim
    final = attempts >= settings.WEBHOOK_MAX_ATTEMPTS
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    delay = None if final else retry_delay(attempts)
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=D.FAILED if final else D.RETRYING,
            next_attempt_at=None if final else timezone.now() + timedelta(seconds=delay),
            response_status=status_code,
            response_body=text,
            error=error,
        )
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
            consecutive_failures=F("consecutive_failures") + 1
        )
        WebhookEndpoint.objects.filter(
            pk=delivery.endpoint_id,
            is_active=True,
            consecutive_failures__gte=limit,
        ).update(
            is_active=False,
            disabled_at=timezone.now(),
            disabled_reason=f"{limit} failed attempts in a row, the last: {error}",
        )
    logger.warning("webhook delivery %s attempt %s failed: %s", delivery.pk, attempts, error)
    return Attempt(D.FAILED if final else D.RETRYING, retry_in=delay)


def requeue_lost_retries() -> int:
    """Enqueue rows whose time has come long ago (their task was lost); run by beat."""
    overdue = timezone.now() - timedelta(minutes=5)
    ids = list(
        WebhookDelivery.objects.filter(status__in=[D.PENDING, D.RETRYING])
        .filter(Q(next_attempt_at__lte=overdue) | Q(next_attempt_at__isnull=True, created_at__lte=overdue))
        .values_list("pk", flat=True)[:1000]
    )
    after_commit(*(Enqueue(DELIVER_TASK, (pk,), best_effort=True) for pk in ids))
    return len(ids)


def parse_occurred_at(value: str) -> str:
    parsed = parse_datetime(value)
    return parsed.isoformat() if parsed else timezone.now().isoformat()
