"""Erasure: a subscriber's reader letters (and their consent records) go with them."""

from __future__ import annotations

from django.dispatch import receiver

from dialogue.services.erasure import erase_subscriber_dialogue
from subscribers.signals import subscriber_erasing


@receiver(subscriber_erasing, dispatch_uid="dialogue.erase")
def erase(sender, *, subscriber, email_hash: str, **kwargs) -> None:
    erase_subscriber_dialogue(subscriber_id=subscriber.pk)
