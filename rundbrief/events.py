"""Events other systems can subscribe to (webhooks out), announced by the apps' services.

A service that did something worth announcing calls ``emit("subscriber.confirmed",
subscriber_id=...)`` inside its transaction; once that commits, the `api` app's task builds
the payload and one signed delivery per subscribed endpoint (api/webhooks.py). Like
rundbrief.effects, this names the task by its registered name, so no app imports `api`.
"""

from __future__ import annotations

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


def emit(event: str, **data: int | str | list | None) -> None:
    """Announce ``event`` once the current transaction commits (``data``: ids and small values)."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; use one of {sorted(EVENTS)}")
    after_commit(Enqueue(FAN_OUT_TASK, (event, data, timezone.now().isoformat())))
