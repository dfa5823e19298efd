"""Fixtures for the subscriber side: topics and subscribers in the states the tests need."""

from __future__ import annotations

import pytest
from django.utils import timezone

from subscribers.mailboxes import mailbox_hash
from subscribers.models import Subscriber, Subscription, Topic, email_hash, normalise_email


@pytest.fixture
def topics(db) -> dict[str, Topic]:
    return {
        slug: Topic.objects.create(slug=slug, name=name, description=f"About {name}")
        for slug, name in [("news", "News"), ("events", "Events"), ("jobs", "Jobs")]
    }


@pytest.fixture
def make_subscriber(topics):
    def make(
        email: str = "ada@example.org",
        *,
        status: str = Subscriber.Status.CONFIRMED,
        topic_slugs: tuple[str, ...] = ("news", "events"),
        language: str = "en",
        name: str = "Ada",
    ) -> Subscriber:
        active = status == Subscriber.Status.CONFIRMED
        subscriber = Subscriber.objects.create(
            email=normalise_email(email),
            email_hash=email_hash(email),
            mailbox_hash=mailbox_hash(email),
            name=name,
            language=language,
            status=status,
            confirmed_at=timezone.now() if active else None,
        )
        for slug in topic_slugs:
            Subscription.objects.create(
                subscriber=subscriber,
                topic=topics[slug],
                status=Subscription.Status.ACTIVE if active else Subscription.Status.PENDING,
                confirmed_at=timezone.now() if active else None,
                requested_at=None if active else timezone.now(),
            )
        return subscriber

    return make


@pytest.fixture
def consent(db):
    """The consent texts the data migration publishes (re-created: transactional tests flush tables)."""
    from importlib import import_module

    from subscribers.models import ConsentText

    texts = import_module("subscribers.migrations.0003_initial_consent_texts").TEXTS
    for language, text in texts.items():
        ConsentText.objects.get_or_create(version="2026-11-1", language=language, defaults={"text": text})
    return ConsentText.objects.get(version="2026-11-1", language="en")


@pytest.fixture
def commit_hooks(django_capture_on_commit_callbacks):
    """Run on_commit callbacks (the queued confirmation mail) as if the transaction committed."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


def link_from(message, path_part: str) -> str:
    """The first link in a mail's text body that contains path_part, as a local path."""
    import re

    from django.conf import settings

    for url in re.findall(r"https?://\S+", message.body):
        if path_part in url:
            return url.removeprefix(settings.SITE_URL)
    raise AssertionError(f"no {path_part} link in {message.body!r}")
