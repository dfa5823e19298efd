"""Writes of the audience desk. Keyword-only; every change to a subscriber names who made it.

Changes of a subscriber's name, language and attributes are recorded as SubscriberChange (who,
when, which fields); topic changes made here go into the consent proof (ConsentEvent, source
"admin", with the user's name), like every other topic change. Bulk actions walk the filter
result in id order, a chunk per transaction, never the whole list in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify

from subscribers import services as subscriber_services
from subscribers.models import (
    Attribute,
    ConsentEvent,
    Segment,
    Subscriber,
    SubscriberChange,
    Subscription,
    Suppression,
    Topic,
)
from subscribers.validation import clean_name

CHUNK = 1000


def _who(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user is not None else ""


def update_subscriber(
    *, subscriber: Subscriber, user: AbstractBaseUser, name: str, language: str, attributes: dict[str, object]
) -> SubscriberChange | None:
    """Save name, language and attribute values (None deletes a value); records what changed."""
    name = clean_name(name)
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        changes: dict[str, list] = {}
        for field_name, value in (("name", name), ("language", language)):
            old = getattr(subscriber, field_name)
            if old != value:
                changes[field_name] = [old, value]
                setattr(subscriber, field_name, value)
        stored = dict(subscriber.attributes)
        for key, value in attributes.items():
            old = stored.get(key)
            if old == value:
                continue
            changes[f"attributes.{key}"] = [old, value]
            if value is None:
                stored.pop(key, None)
            else:
                stored[key] = value
        if not changes:
            return None
        subscriber.attributes = stored
        subscriber.save(update_fields=["name", "language", "attributes", "updated_at"])
        return SubscriberChange.objects.create(subscriber=subscriber, changed_by=user, changes=changes)


# Topics.


def _free_slug(name: str) -> str:
    base = slugify(name)[:40] or "topic"
    slug, n = base, 2
    while Topic.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def save_topic(
    *,
    topic: Topic | None,
    name: str,
    slug: str = "",
    description: str,
    is_public: bool,
    owner: AbstractBaseUser | None,
    translations: dict[str, dict[str, str]] | None = None,
) -> Topic:
    """``translations``: the name and description in other languages ({language: {name,
    description}}, Topic.translations); None leaves them as they are."""
    if topic is None:
        topic = Topic(slug=slug or _free_slug(name))
    topic.name = name
    topic.description = description
    if translations is not None:
        topic.translations = translations
    topic.is_public = is_public
    topic.owner = owner
    topic.save()
    return topic


def archive_topic(*, topic: Topic) -> Topic:
    """No longer offered anywhere; its subscriptions and their history stay."""
    if topic.archived_at is None:
        topic.archived_at = timezone.now()
        topic.save(update_fields=["archived_at"])
    return topic


def restore_topic(*, topic: Topic) -> Topic:
    topic.archived_at = None
    topic.save(update_fields=["archived_at"])
    return topic


# Attributes.


def save_attribute(
    *,
    attribute: Attribute | None,
    key: str,
    label_en: str,
    label_de: str,
    kind: str,
    choices: list[str],
    is_public: bool,
) -> Attribute:
    if attribute is None:
        attribute = Attribute(key=key, kind=kind)
    attribute.label_en = label_en
    attribute.label_de = label_de
    attribute.is_public = is_public
    if attribute.kind == Attribute.Kind.CHOICE:
        attribute.choices = choices
    attribute.save()
    return attribute


def delete_attribute(*, attribute: Attribute) -> int:
    """The field and every value stored for it go (minimal data). Returns how many values.

    On PostgreSQL one UPDATE removes the key from every subscriber holding it (``attributes - key``);
    elsewhere the holders are rewritten a chunk at a time.
    """
    key = attribute.key
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {Subscriber._meta.db_table} SET attributes = attributes - %s "
                    "WHERE jsonb_exists(attributes, %s)",
                    [key, key],
                )
                removed = cursor.rowcount
        else:
            removed = 0
            for chunk in _id_chunks(Subscriber.objects.filter(attributes__has_key=key)):
                for subscriber in Subscriber.objects.filter(pk__in=chunk).select_for_update():
                    subscriber.attributes.pop(key, None)
                    subscriber.save(update_fields=["attributes"])
                    removed += 1
        attribute.delete()
    return removed


# Segments.


def save_segment(*, segment: Segment | None, name: str, definition: dict, user: AbstractBaseUser) -> Segment:
    if segment is None:
        segment = Segment(created_by=user)
    segment.name = name
    segment.definition = definition
    segment.save()
    return segment


class SegmentInUse(Exception):
    """A campaign is narrowed by this segment; it cannot be deleted."""


def delete_segment(*, segment: Segment) -> None:
    if segment.campaigns.exists():
        raise SegmentInUse(segment.name)
    segment.delete()


# Bulk actions over a filter result or a selection.


def _id_chunks(qs: QuerySet[Subscriber]) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:CHUNK])
        if not ids:
            return
        yield ids
        last = ids[-1]


@dataclass(frozen=True)
class BulkResult:
    changed: int
    skipped: int  # e.g. not confirmed or on the suppression list (never added to a topic)


def add_to_topic(*, subscribers: QuerySet[Subscriber], topic: Topic, user: AbstractBaseUser) -> BulkResult:
    """Confirmed, unsuppressed subscribers get an active subscription to the topic.

    Others are skipped: a pending subscriber has not confirmed anything yet, and a suppressed
    address is never mailed again. Each addition is recorded in the subscriber's consent proof
    as a change made by staff, with the user's name.
    """
    changed = skipped = 0
    now = timezone.now()
    for ids in _id_chunks(subscribers):
        with transaction.atomic():
            chunk = list(
                Subscriber.objects.filter(pk__in=ids).only("pk", "email_hash", "status").order_by("pk")
            )
            suppressed = set(
                Suppression.objects.filter(email_hash__in=[s.email_hash for s in chunk]).values_list(
                    "email_hash", flat=True
                )
            )
            eligible = [
                s for s in chunk if s.status == Subscriber.Status.CONFIRMED and s.email_hash not in suppressed
            ]
            skipped += len(chunk) - len(eligible)
            active = set(
                Subscription.objects.filter(
                    subscriber__in=eligible, topic=topic, status=Subscription.Status.ACTIVE
                ).values_list("subscriber_id", flat=True)
            )
            todo = [s for s in eligible if s.pk not in active]
            Subscription.objects.filter(subscriber__in=todo, topic=topic).update(
                status=Subscription.Status.ACTIVE, confirmed_at=now, unsubscribed_at=None
            )
            Subscription.objects.bulk_create(
                [
                    Subscription(
                        subscriber=s, topic=topic, status=Subscription.Status.ACTIVE, confirmed_at=now
                    )
                    for s in todo
                ],
                ignore_conflicts=True,
            )
            ConsentEvent.objects.bulk_create(
                [
                    ConsentEvent(
                        subscriber=s,
                        email_hash=s.email_hash,
                        kind=ConsentEvent.Kind.PREFERENCES_CHANGED,
                        source=ConsentEvent.Source.ADMIN,
                        topics=[topic.slug],
                        details={"topics_added": [topic.slug], "by": _who(user)},
                    )
                    for s in todo
                ]
            )
            changed += len(todo)
    return BulkResult(changed=changed, skipped=skipped)


def remove_from_topic(
    *, subscribers: QuerySet[Subscriber], topic: Topic, user: AbstractBaseUser
) -> BulkResult:
    changed = 0
    now = timezone.now()
    for ids in _id_chunks(subscribers):
        with transaction.atomic():
            live = Subscription.objects.filter(subscriber_id__in=ids, topic=topic).exclude(
                status=Subscription.Status.UNSUBSCRIBED
            )
            ended = list(live.values_list("subscriber_id", "subscriber__email_hash"))
            live.update(status=Subscription.Status.UNSUBSCRIBED, unsubscribed_at=now)
            ConsentEvent.objects.bulk_create(
                [
                    ConsentEvent(
                        subscriber_id=subscriber_id,
                        email_hash=address_hash,
                        kind=ConsentEvent.Kind.PREFERENCES_CHANGED,
                        source=ConsentEvent.Source.ADMIN,
                        topics=[topic.slug],
                        details={"topics_removed": [topic.slug], "by": _who(user)},
                    )
                    for subscriber_id, address_hash in ended
                ]
            )
            changed += len(ended)
    return BulkResult(changed=changed, skipped=0)


def erase_subscribers(*, subscribers: QuerySet[Subscriber], user: AbstractBaseUser) -> BulkResult:
    """Erase each one like a subscriber's own request (subscribers.services.erase): the address
    hash stays on the suppression list, nothing else."""
    erased = 0
    for ids in _id_chunks(subscribers):
        for subscriber in Subscriber.objects.filter(pk__in=ids):
            subscriber_services.erase(subscriber=subscriber, source=ConsentEvent.Source.ADMIN)
            erased += 1
    return BulkResult(changed=erased, skipped=0)
