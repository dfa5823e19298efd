"""Signals other apps can listen to."""

from django.dispatch import Signal

# Sent inside the erasure transaction, before the subscriber row is deleted, with
# `subscriber` and `email_hash`: apps holding personal data about the subscriber (reply
# texts, raw mails) delete it here, so an erasure really erases.
subscriber_erasing = Signal()
