"""Erasure (subscribers.signals.subscriber_erasing): the reader letters and call-back data go."""

from __future__ import annotations

from dialogue.models import CallbackRequest, ReaderLetter


def erase_subscriber_dialogue(*, subscriber_id: int) -> None:
    """Deletes the subscriber's letters (their consent records with them: the letter's words are
    personal data) and every call-back request (phone number) of their conversations."""
    ReaderLetter.objects.filter(subscriber_id=subscriber_id).delete()
    CallbackRequest.objects.filter(subscriber_id=subscriber_id).delete()
