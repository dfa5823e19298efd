"""The periodic purge: pending subscribers whose confirmation link expired are deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from subscribers import services
from subscribers.models import ConsentEvent, Subscriber
from subscribers.tasks import purge_expired_pending

pytestmark = pytest.mark.django_db


def test_purges_only_expired_pending(make_subscriber):
    old = timezone.now() - settings.CONFIRMATION_LINK_MAX_AGE - timedelta(minutes=1)
    expired = make_subscriber("expired@example.org", status="pending")
    never_mailed = make_subscriber("never@example.org", status="pending")
    fresh = make_subscriber("fresh@example.org", status="pending")
    confirmed = make_subscriber("confirmed@example.org")
    Subscriber.objects.filter(pk=expired.pk).update(last_confirmation_sent_at=old)
    Subscriber.objects.filter(pk=never_mailed.pk).update(created_at=old)
    Subscriber.objects.filter(pk=fresh.pk).update(created_at=old, last_confirmation_sent_at=timezone.now())
    Subscriber.objects.filter(pk=confirmed.pk).update(created_at=old, last_confirmation_sent_at=old)
    services.record_event(kind="requested", source="form", subscriber=expired, ip="192.0.2.1")

    assert purge_expired_pending.delay().get() == 2
    assert set(Subscriber.objects.values_list("email", flat=True)) == {
        "fresh@example.org",
        "confirmed@example.org",
    }
    assert not ConsentEvent.objects.exists()  # never consented: nothing about them is kept
    assert services.purge_expired_pending() == 0


def test_purge_is_in_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-pending-subscribers"]
    assert entry["task"] == purge_expired_pending.name
