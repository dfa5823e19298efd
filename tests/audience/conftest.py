"""Audience desk fixtures: users in the groups the migrations made, topics, subscribers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from subscribers.models import Subscriber, Subscription, Topic, email_hash


def member(username: str, *groups: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.org", "pw", first_name=username.title())
    for name in groups:
        user.groups.add(Group.objects.get(name=name))  # permissions from the migrations
    return user


@pytest.fixture
def marketer(db) -> User:
    return member("mara", "Marketers")


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def topic(db) -> Topic:
    return Topic.objects.create(slug="news", name="News")


def make_subscriber(
    address: str,
    *topics: Topic,
    status: str = Subscriber.Status.CONFIRMED,
    name: str = "",
    language: str = "de",
    attributes: dict | None = None,
    confirmed_at=None,
) -> Subscriber:
    subscriber = Subscriber.objects.create(
        email=address,
        email_hash=email_hash(address),
        status=status,
        name=name,
        language=language,
        attributes=attributes or {},
        confirmed_at=confirmed_at
        if confirmed_at is not None
        else (timezone.now() if status == Subscriber.Status.CONFIRMED else None),
    )
    for topic in topics:
        Subscription.objects.create(subscriber=subscriber, topic=topic, status=Subscription.Status.ACTIVE)
    return subscriber
