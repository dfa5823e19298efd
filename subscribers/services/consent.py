"""The consent proof: append-only events, never updated, deleted only by erasure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from subscribers.models import ConsentEvent, ConsentText, Subscriber


def check_source(source: str) -> None:
    # Callers in other apps pass plain strings: a typo must fail loudly, not end up in the proof.
    if source not in ConsentEvent.Source.values:
        raise ValueError(f"unknown consent source {source!r}; use one of {ConsentEvent.Source.values}")


def record_event(
    *,
    kind: str,
    source: str,
    subscriber: Subscriber | None = None,
    address_hash: str | None = None,
    topic_slugs: Sequence[str] = (),
    ip: str | None = None,
    user_agent: str = "",
    consent: ConsentText | None = None,
    details: dict | None = None,
    at: datetime | None = None,
) -> ConsentEvent:
    """Append one entry to the consent proof. `at`: when it happened, if not now."""
    check_source(source)
    if address_hash is None:
        if subscriber is None:
            raise ValueError("record_event needs a subscriber or an address hash")
        address_hash = subscriber.email_hash
    return ConsentEvent.objects.create(
        subscriber=subscriber,
        email_hash=address_hash,
        kind=kind,
        source=source,
        created_at=at or timezone.now(),
        ip_address=ip or None,
        user_agent=user_agent[:1000],
        topics=sorted(topic_slugs),
        consent_text=consent.text if consent else "",
        consent_text_version=consent.version if consent else "",
        details=details or {},
    )
