"""What the dialogue app stores about a subscriber, for their data download (subscribers.exports):
reader letters with their consent history, and call-back requests (phone number, window)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from dialogue.models import CallbackRequest, ReaderLetter
from subscribers import exports
from subscribers.models import Subscriber


def _letters(subscriber: Subscriber):
    return ReaderLetter.objects.filter(subscriber=subscriber).order_by("proposed_at", "pk")


def _collect_letters(subscriber: Subscriber) -> exports.SectionData:
    records = [
        {
            "text": letter.text,
            "signature": letter.signature,
            "signature_kind": letter.signature_kind,
            "topic": letter.topic.name,
            "status": letter.status,
            "proposed_at": letter.proposed_at,
            "published_at": letter.published_at,
            "withdrawn_at": letter.withdrawn_at,
            "consent_history": [
                {
                    "kind": consent.kind,
                    "time": consent.created_at,
                    "text": consent.text,
                    "signature": consent.signature,
                    "wording_version": consent.wording_version,
                    "ip_address": consent.ip_address,
                    "user_agent": consent.user_agent,
                }
                for consent in letter.consents.all()
            ],
        }
        for letter in _letters(subscriber).select_related("topic").prefetch_related("consents")
    ]
    return exports.SectionData(records=records)


def _callbacks(subscriber: Subscriber):
    return CallbackRequest.objects.filter(subscriber=subscriber).order_by("created_at", "pk")


def _collect_callbacks(subscriber: Subscriber) -> exports.SectionData:
    return exports.SectionData(
        records=[
            {"phone": c.phone, "window": c.window, "asked_at": c.created_at} for c in _callbacks(subscriber)
        ]
    )


def register() -> None:
    """Called from DialogueConfig.ready."""
    exports.register(
        exports.Section(
            key="reader_letters",
            label=_("Your reader letters and your answers about them"),
            count=lambda subscriber: _letters(subscriber).count(),
            collect=_collect_letters,
        )
    )
    exports.register(
        exports.Section(
            key="callback_requests",
            label=_("Your call-back requests (phone number and time)"),
            count=lambda subscriber: _callbacks(subscriber).count(),
            collect=_collect_callbacks,
        )
    )
