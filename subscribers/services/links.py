"""Links mailed on request: a new preference link, and the links that confirm erasure or download.

Whoever holds a preference link (perhaps from a forwarded newsletter) may change topics and
frequency and unsubscribe, but erasing the subscriber or downloading their data needs a
fresh, short-lived link sent to the address itself (tokens.ERASE and tokens.EXPORT). Each
kind of link is mailed at most once per CONFIRMATION_RESEND_WINDOW per subscriber, so a
page reloaded or a button pressed again does not flood the inbox; the page then says when
the earlier link went out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from subscribers import mails, queue, tokens
from subscribers.models import Subscriber

PREFERENCES_LINK = "preferences"


@dataclass(frozen=True)
class LinkRequest:
    sent: bool  # False: a link of this kind went out within the window; sent_at says when
    sent_at: datetime


def _claim(kind: str, subscriber_id: int) -> LinkRequest:
    """One mail of this kind per window per subscriber, across every web process (the cache)."""
    now = timezone.now()
    key = f"subscribers:mailed-link:{kind}:{subscriber_id}"
    window = int(settings.CONFIRMATION_RESEND_WINDOW.total_seconds())
    if window <= 0 or cache.add(key, now.isoformat(), timeout=window):
        return LinkRequest(sent=True, sent_at=now)
    earlier = parse_datetime(cache.get(key) or "") or now
    return LinkRequest(sent=False, sent_at=earlier)


def request_preferences_link(*, subscriber: Subscriber) -> LinkRequest:
    """From an expired preference link's page: mail a fresh one to the address."""
    claim = _claim(PREFERENCES_LINK, subscriber.pk)
    if claim.sent:
        subscriber_id = subscriber.pk
        transaction.on_commit(lambda: queue.enqueue("send_preferences_link", subscriber_id))
    return claim


def _check_action(action: str) -> None:
    if action not in tokens.DATA_PURPOSES:
        raise ValueError(f"unknown data action {action!r}; use one of {tokens.DATA_PURPOSES}")


def request_data_link(*, subscriber: Subscriber, action: str) -> LinkRequest:
    """Mail the short-lived link that confirms erasure (tokens.ERASE) or opens the download (EXPORT)."""
    _check_action(action)
    claim = _claim(action, subscriber.pk)
    if claim.sent:
        subscriber_id = subscriber.pk
        transaction.on_commit(lambda: queue.enqueue("send_data_link", subscriber_id, action))
    return claim


def deliver_preferences_link(*, subscriber_id: int) -> bool:
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        return False
    mails.send_preferences_link_mail(subscriber=subscriber)
    return True


def deliver_data_link(*, subscriber_id: int, action: str) -> bool:
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        return False  # erased meanwhile (perhaps through the other link)
    _check_action(action)
    mails.send_data_link_mail(subscriber=subscriber, action=action)
    return True
