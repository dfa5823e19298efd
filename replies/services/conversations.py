"""Staff actions on a conversation: notes, reassigning, close/reopen/snooze; erasure with the subscriber."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from replies.models import Conversation, ConversationEvent, InboundMessage, Message
from replies.reasons import as_json, reason
from replies.selectors import staff_display_name
from replies.services.collaboration import record_mentions
from rundbrief.effects import Enqueue, after_commit
from rundbrief.events import emit


def add_note(*, conversation: Conversation, author: AbstractBaseUser, text: str) -> ConversationEvent:
    """An internal note; colleagues it mentions (@name) are recorded with it and notified."""
    text = text.strip()
    if not text:
        raise ValueError(_("The note is empty."))
    with transaction.atomic():
        event = ConversationEvent.objects.create(
            conversation=conversation, kind=ConversationEvent.Kind.NOTE, actor=author, text=text
        )
        record_mentions(event=event)
    return event


def reassign(
    *, conversation: Conversation, actor: AbstractBaseUser, assignee: AbstractBaseUser | None, note: str = ""
) -> ConversationEvent:
    with transaction.atomic():
        reasons = [reason("reassigned", name=staff_display_name(actor))]
        Conversation.objects.filter(pk=conversation.pk).update(
            assignee=assignee, routing_rule="manual", routing_reasons=as_json(reasons)
        )
        event = ConversationEvent.objects.create(
            conversation=conversation,
            kind=ConversationEvent.Kind.ASSIGNED,
            actor=actor,
            assignee=assignee,
            text=note.strip(),
        )
        emit("conversation.assigned", conversation_id=conversation.pk, assignee_id=assignee and assignee.pk)
        if assignee is not None and assignee != actor:
            after_commit(Enqueue("replies.tasks.notify_reassigned_task", (event.pk,)))
    conversation.refresh_from_db()
    return event


def close(*, conversation: Conversation, actor: AbstractBaseUser) -> None:
    _set_status(conversation, actor, Conversation.Status.CLOSED, ConversationEvent.Kind.CLOSED)
    emit("conversation.closed", conversation_id=conversation.pk)


def reopen(*, conversation: Conversation, actor: AbstractBaseUser) -> None:
    _set_status(conversation, actor, Conversation.Status.OPEN, ConversationEvent.Kind.REOPENED)


def snooze(*, conversation: Conversation, actor: AbstractBaseUser, until: datetime) -> None:
    if until <= timezone.now():
        raise ValueError(_("Choose a time in the future."))
    _set_status(conversation, actor, Conversation.Status.SNOOZED, ConversationEvent.Kind.SNOOZED, until=until)


def _set_status(
    conversation: Conversation, actor: AbstractBaseUser, status: str, kind: str, until: datetime | None = None
) -> None:
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(status=status, snoozed_until=until)
        text = timezone.localtime(until).strftime("%Y-%m-%d %H:%M") if until else ""
        ConversationEvent.objects.create(conversation=conversation, kind=kind, actor=actor, text=text)
    conversation.refresh_from_db()


def erase_conversations(*, subscriber: object) -> int:
    """On erasure: the subscriber's conversations, their raw mails and attachments go too."""
    conversations = Conversation.objects.filter(subscriber=subscriber)
    inbound_ids = list(
        Message.objects.filter(conversation__in=conversations, inbound__isnull=False).values_list(
            "inbound_id", flat=True
        )
    )
    for message in Message.objects.filter(conversation__in=conversations).prefetch_related("attachments"):
        for attachment in message.attachments.all():
            attachment.file.delete(save=False)
    deleted, _counts = conversations.delete()
    InboundMessage.objects.filter(pk__in=inbound_ids).delete()
    return deleted
