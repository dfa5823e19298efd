"""CSV export of any filter result, streamed: a chunk of subscribers at a time (keyset by id),
never the whole list in memory, with the consent proof in columns.

Per subscriber: address, name, language, status, dates, the active topics, the latest opt-in
request (time, IP, browser, consent text version, source), the confirmation (time, IP), an
import's prior consent (date and source), the suppression reason, and one column per attribute.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from subscribers.models import Attribute, ConsentEvent, Subscriber, Subscription, Suppression

CHUNK = 1000
PROOF_KINDS = (ConsentEvent.Kind.REQUESTED, ConsentEvent.Kind.CONFIRMED, ConsentEvent.Kind.IMPORTED)
COLUMNS = [
    "email",
    "name",
    "language",
    "status",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "topics",
    "optin_requested_at",
    "optin_ip",
    "optin_user_agent",
    "consent_text_version",
    "optin_source",
    "confirmation_at",
    "confirmation_ip",
    "prior_consent_date",
    "prior_consent_source",
    "suppressed",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _iso(value) -> str:
    return value.isoformat() if value else ""


def rows(subscribers: QuerySet[Subscriber]) -> Iterator[list[str]]:
    attributes = list(Attribute.objects.values_list("key", flat=True))
    yield COLUMNS + [f"attribute_{key}" for key in attributes]
    last = 0
    while True:
        chunk = list(subscribers.filter(pk__gt=last).order_by("pk")[:CHUNK])
        if not chunk:
            return
        last = chunk[-1].pk
        ids = [s.pk for s in chunk]
        topics: dict[int, list[str]] = {}
        for subscriber_id, slug in (
            Subscription.objects.filter(subscriber_id__in=ids, status=Subscription.Status.ACTIVE)
            .order_by("topic__slug")
            .values_list("subscriber_id", "topic__slug")
        ):
            topics.setdefault(subscriber_id, []).append(slug)
        proof: dict[tuple[int, str], ConsentEvent] = {}
        for event in ConsentEvent.objects.filter(subscriber_id__in=ids, kind__in=PROOF_KINDS).order_by(
            "created_at", "id"
        ):
            proof[(event.subscriber_id, event.kind)] = event  # the latest of each kind wins
        suppressed = dict(
            Suppression.objects.filter(email_hash__in=[s.email_hash for s in chunk]).values_list(
                "email_hash", "reason"
            )
        )
        for s in chunk:
            requested = proof.get((s.pk, ConsentEvent.Kind.REQUESTED))
            confirmed = proof.get((s.pk, ConsentEvent.Kind.CONFIRMED))
            imported = proof.get((s.pk, ConsentEvent.Kind.IMPORTED))
            yield [
                s.email,
                s.name,
                s.language,
                s.status,
                _iso(s.created_at),
                _iso(s.confirmed_at),
                _iso(s.unsubscribed_at),
                " ".join(topics.get(s.pk, [])),
                _iso(requested.created_at) if requested else "",
                (requested.ip_address or "") if requested else "",
                requested.user_agent if requested else "",
                requested.consent_text_version if requested else "",
                requested.source if requested else (imported.source if imported else ""),
                _iso(confirmed.created_at) if confirmed else "",
                (confirmed.ip_address or "") if confirmed else "",
                imported.details.get("consent_date", "") if imported else "",
                imported.details.get("consent_source", "") if imported else "",
                suppressed.get(s.email_hash, ""),
            ] + ["" if s.attributes.get(key) is None else str(s.attributes[key]) for key in attributes]


def csv_response(subscribers: QuerySet[Subscriber], *, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows(subscribers)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
