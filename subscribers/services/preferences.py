"""The preference centre's changes: topics, frequency, pause, format, name, language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rundbrief.events import emit
from subscribers.models import ConsentEvent, Subscriber, Subscription, Topic
from subscribers.services.consent import record_event
from subscribers.services.optin import (
    NOTHING_PENDING,
    drop_due_if_nothing_pending,
    lock_mailbox,
    mark_pending,
    send_if_due,
)
from subscribers.validation import clean_name


@dataclass(frozen=True)
class PreferencesSaved:
    awaiting: list[str] = field(default_factory=list)  # added topics that wait for confirmation
    confirmation_mail: str = NOTHING_PENDING  # see services.optin (sent, delayed, throttled)
    confirmation_due_at: datetime | None = None


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def update_preferences(
    *,
    subscriber: Subscriber,
    topics: Sequence[Topic],
    frequency: str,
    frequency_limit: int,
    paused_until: date | None,
    format: str,
    name: str,
    language: str,
    ip: str | None = None,
    user_agent: str = "",
) -> PreferencesSaved:
    """Save the preference centre.

    Leaving a topic takes effect at once; a new topic needs the confirmation mail, like a
    signup, and under the same throttle per subscriber and mailbox (toggling a topic off and
    on again must not send a mail each time): a held-back mail goes out when the window has
    passed.
    """
    now = timezone.now()
    wanted = {topic.slug for topic in topics}
    name = clean_name(name)
    with transaction.atomic():
        subscriber = lock_mailbox(subscriber.pk)
        changes: dict[str, list] = {}
        for field_name, value in [
            ("frequency", frequency),
            ("frequency_limit", frequency_limit),
            ("paused_until", paused_until),
            ("format", format),
            ("name", name),
            ("language", language),
        ]:
            old = getattr(subscriber, field_name)
            if old != value:
                setattr(subscriber, field_name, value)
                # Names are personal data: the proof says that it changed, not what it was.
                changes[field_name] = (
                    ["…", "…"] if field_name == "name" else [_json_value(old), _json_value(value)]
                )
        if changes:
            subscriber.save(update_fields=[*changes, "updated_at"])

        left = subscriber.subscriptions.exclude(status=Subscription.Status.UNSUBSCRIBED).exclude(
            topic__slug__in=wanted
        )
        left_slugs = sorted(left.values_list("topic__slug", flat=True))
        left.update(status=Subscription.Status.UNSUBSCRIBED, unsubscribed_at=now)
        if left_slugs:
            changes["topics_left"] = left_slugs

        awaiting = mark_pending(subscriber, topics, now)
        mail = NOTHING_PENDING
        if awaiting:
            changes["topics_awaiting_confirmation"] = awaiting
            mail = send_if_due(subscriber, now, delay_when_throttled=False)
            changes["confirmation_mail"] = mail
        else:
            drop_due_if_nothing_pending(subscriber)
        if changes:
            record_event(
                kind=ConsentEvent.Kind.PREFERENCES_CHANGED,
                source=ConsentEvent.Source.PREFERENCE_CENTRE,
                subscriber=subscriber,
                topic_slugs=sorted(wanted),
                ip=ip,
                user_agent=user_agent,
                details=changes,
            )
            emit("subscriber.preferences_changed", subscriber_id=subscriber.pk, changed=sorted(changes))
    return PreferencesSaved(
        awaiting=awaiting, confirmation_mail=mail, confirmation_due_at=subscriber.confirmation_due_at
    )


def set_mail_language(
    *, subscriber: Subscriber, language: str, ip: str | None = None, user_agent: str = ""
) -> bool:
    """ "Make German my language for mails", offered when the page is read in another language."""
    if language not in {code for code, _name in settings.LANGUAGES}:
        raise ValueError(f"unknown language {language!r}")
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.language == language:
            return False
        old, subscriber.language = subscriber.language, language
        subscriber.save(update_fields=["language", "updated_at"])
        record_event(
            kind=ConsentEvent.Kind.PREFERENCES_CHANGED,
            source=ConsentEvent.Source.PREFERENCE_CENTRE,
            subscriber=subscriber,
            ip=ip,
            user_agent=user_agent,
            details={"language": [old, language]},
        )
        emit("subscriber.preferences_changed", subscriber_id=subscriber.pk, changed=["language"])
    return True


def update_attributes(
    *, subscriber: Subscriber, values: dict[str, object], ip: str | None = None, user_agent: str = ""
) -> list[str]:
    """The subscriber's own field values from the preference centre (None deletes one).

    Returns the keys that changed. The proof records which fields changed, not their values
    (personal data the subscriber may delete again).
    """
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        stored = dict(subscriber.attributes)
        changed = []
        for key, value in values.items():
            if stored.get(key) == value:
                continue
            changed.append(key)
            if value is None:
                stored.pop(key, None)
            else:
                stored[key] = value
        if not changed:
            return []
        subscriber.attributes = stored
        subscriber.save(update_fields=["attributes", "updated_at"])
        record_event(
            kind=ConsentEvent.Kind.PREFERENCES_CHANGED,
            source=ConsentEvent.Source.PREFERENCE_CENTRE,
            subscriber=subscriber,
            ip=ip,
            user_agent=user_agent,
            details={"fields_changed": sorted(changed)},
        )
    return sorted(changed)
