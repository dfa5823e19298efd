"""The subscriber's say over their own conversations: who may read one, and deleting one.

- readers: "the team" (the inbox's usual rule) or "only my contact person" (the assignee alone;
  replies.selectors.visible_conversations enforces it). A manager may still read it, but only
  after recording an override with a reason (ReaderOverride), which the conversation page shows.
- delete: the messages, attachments and raw mails go; the conversation row stays, closed and
  without subject, so staff see that the subscriber deleted it and when.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dialogue.models import CallbackRequest, ConversationWish, ReaderOverride
from replies.interface import Conversation, InboundMessage, Message

MANAGER_PERMISSION = "replies.view_all_conversations"


class WishError(ValueError):
    pass


def wish_for(conversation: Conversation) -> ConversationWish:
    wish, _created = ConversationWish.objects.get_or_create(conversation=conversation)
    return wish


def set_readers(*, conversation: Conversation, readers: str) -> ConversationWish:
    if readers not in ConversationWish.Readers.values:
        raise WishError(_("Choose who may read the conversation."))
    wish = wish_for(conversation)
    wish.readers = readers
    wish.readers_changed_at = timezone.now()
    wish.save(update_fields=["readers", "readers_changed_at"])
    return wish


def delete_by_subscriber(*, conversation: Conversation) -> ConversationWish:
    messages = Message.objects.filter(conversation=conversation)
    inbound_ids = list(messages.filter(inbound__isnull=False).values_list("inbound_id", flat=True))
    with transaction.atomic():
        for message in messages.prefetch_related("attachments"):
            for attachment in message.attachments.all():
                attachment.file.delete(save=False)
        CallbackRequest.objects.filter(inbound_id__in=inbound_ids).delete()
        messages.delete()
        InboundMessage.objects.filter(pk__in=inbound_ids).delete()
        Conversation.objects.filter(pk=conversation.pk).update(
            subject="", status=Conversation.Status.CLOSED, waiting_since=None, snoozed_until=None
        )
        wish = wish_for(conversation)
        wish.deleted_by_subscriber_at = timezone.now()
        wish.save(update_fields=["deleted_by_subscriber_at"])
    return wish


def override_readers(*, conversation: Conversation, manager: AbstractBaseUser, reason: str) -> ReaderOverride:
    if not manager.has_perm(MANAGER_PERMISSION):
        raise WishError(_("Only a manager may read a conversation kept for the contact person."))
    reason = reason.strip()
    if not reason:
        raise WishError(_("Say why you need to read it: the reason is recorded."))
    return ReaderOverride.objects.create(conversation=conversation, manager=manager, reason=reason)
