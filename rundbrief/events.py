"""Events other systems can subscribe to (webhooks out), announced by the apps' services.

A service that did something worth announcing calls ``emit("subscriber.confirmed",
subscriber_id=...)`` inside its transaction; once that commits, the `api` app's task builds
the payload and one signed delivery per subscribed endpoint (api/webhooks.py). Like
rundbrief.effects, this names the task by its registered name, so no app imports `api`.

Many subscribers at once (the rows of an import) are announced with ``emit_for_subscribers``:
still one event per subscriber, as if each had been done alone, but queued in bulk: one task
per ``BATCH`` subscribers, which builds their payloads from one query and inserts their
deliveries together (an import of 50,000 confirmed rows queues 100 tasks, not 50,000).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rundbrief.effects import Enqueue, after_commit

EVENTS = {
    "subscriber.confirmed": _("Subscriber confirmed"),
    "subscriber.unsubscribed": _("Subscriber unsubscribed"),
    "subscriber.erased": _("Subscriber erased"),
    "subscriber.preferences_changed": _("Subscriber changed preferences"),
    "delivery.hard_bounce": _("Hard bounce"),
    "reply.received": _("Reply received"),
    "conversation.assigned": _("Conversation assigned"),
    "conversation.answered": _("Conversation answered"),
    "conversation.closed": _("Conversation closed"),
    "campaign.started": _("Campaign started"),
    "campaign.sent": _("Campaign sent"),
}
TEST_EVENT = "test.ping"
FAN_OUT_TASK = "api.tasks.fan_out_event_task"
FAN_OUT_EACH_TASK = "api.tasks.fan_out_subscriber_events_task"
BATCH = 500


def _known(event: str) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; use one of {sorted(EVENTS)}")


def emit(event: str, **data: int | str | list | None) -> None:
    """Announce ``event`` once the current transaction commits (``data``: ids and small values)."""
    _known(event)
    after_commit(Enqueue(FAN_OUT_TASK, (event, data, timezone.now().isoformat())))


def emit_for_subscribers(event: str, subscriber_ids: Sequence[int], **data: int | str | list | None) -> None:
    """Announce ``event`` for each of these subscribers (each event's ``subscriber_id`` is its own;
    ``data`` is the same for all), once the current transaction commits, a task per BATCH."""
    _known(event)
    ids = list(dict.fromkeys(subscriber_ids))
    occurred_at = timezone.now().isoformat()
    after_commit(
        *(
            Enqueue(FAN_OUT_EACH_TASK, (event, ids[start : start + BATCH], data, occurred_at))
            for start in range(0, len(ids), BATCH)
        )
    )


def emit_imported(*, subscriber_ids: Sequence[int], topic_slugs: Sequence[str]) -> None:
    """Subscribers an import (audience desk, CLI, API) confirmed with their prior consent:
    announced like a subscriber created through the API with prior consent (`subscriber.confirmed`,
    `prior_consent: true`). Rows that get the opt-in mail are announced by their own click."""
    emit_for_subscribers(
        "subscriber.confirmed", subscriber_ids, topics=sorted(set(topic_slugs)), prior_consent=True
    )
