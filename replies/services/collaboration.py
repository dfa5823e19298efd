"""Working together on conversations: tags, mentions in notes, following; linking an unmatched
mail to a subscriber, merging two conversations, moving a message. Every act is recorded as a
ConversationEvent (who, when, what), shown in the timeline."""

from __future__ import annotations

import contextlib
import re

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Max, Q
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from replies.models import Conversation, ConversationEvent, Follow, Message, StaffProfile, Tag
from replies.selectors import assignable_staff, staff_display_name
from replies.services.automatic import answerable_notification
from rundbrief.effects import Enqueue, after_commit
from rundbrief.links import link_url
from rundbrief.mail.addresses import REPLY
from subscribers.models import Subscriber

Event = ConversationEvent.Kind
MENTION = re.compile(r"(?<![\w@])@([\w.\-]+)")


class NotPossible(ValueError):
    """A merge or move that cannot be done (other subscriber, the same conversation)."""


def _event(
    conversation: Conversation | int, kind: str, actor: AbstractBaseUser, text: str = ""
) -> ConversationEvent:
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    return ConversationEvent.objects.create(
        conversation_id=conversation_id, kind=kind, actor=actor, text=text
    )


# --- Tags -----------------------------------------------------------------------------------


def set_tags(*, conversation: Conversation, actor: AbstractBaseUser, names: list[str]) -> tuple[list, list]:
    """The conversation carries exactly these tags (created when new, matched case-insensitively)."""
    wanted: dict[str, str] = {}
    for name in names:
        name = name.strip().lstrip("#").strip()[:60]
        if name:
            wanted.setdefault(name.lower(), name)
    with transaction.atomic():
        current = {tag.name.lower(): tag for tag in conversation.tags.all()}
        added, removed = [], []
        for key, name in wanted.items():
            if key not in current:
                tag = Tag.objects.filter(name__iexact=name).first() or Tag.objects.create(name=name)
                conversation.tags.add(tag)
                _event(conversation, Event.TAGGED, actor, tag.name)
                added.append(tag)
        for key, tag in current.items():
            if key not in wanted:
                conversation.tags.remove(tag)
                _event(conversation, Event.UNTAGGED, actor, tag.name)
                removed.append(tag)
    return added, removed


# --- Mentions and following -----------------------------------------------------------------


def mentioned_people(text: str) -> list:
    """Colleagues named in a note as @username (or @display.name, dots for spaces)."""
    handles = {handle.lower().rstrip(".") for handle in MENTION.findall(text)}
    if not handles:
        return []
    people = []
    for person in assignable_staff().select_related("staff_profile"):
        names = {person.get_username().lower()}
        with contextlib.suppress(StaffProfile.DoesNotExist):
            names.add(person.staff_profile.display_name.lower().replace(" ", "."))
        if names & handles:
            people.append(person)
    return people


def record_mentions(*, event: ConversationEvent) -> list:
    """A note's mentions: stored with it, and each person (but the author) is mailed after the commit."""
    people = [person for person in mentioned_people(event.text) if person.pk != event.actor_id]
    if people:
        event.mentioned.set(people)
        after_commit(Enqueue("replies.tasks.notify_mentioned_task", (event.pk,), best_effort=True))
    return people


def follow(*, conversation: Conversation, user: AbstractBaseUser) -> bool:
    with transaction.atomic():
        _follow, created = Follow.objects.get_or_create(conversation=conversation, user=user)
        if created:
            _event(conversation, Event.FOLLOWED, user)
    return created


def unfollow(*, conversation: Conversation, user: AbstractBaseUser) -> bool:
    with transaction.atomic():
        deleted, _rows = Follow.objects.filter(conversation=conversation, user=user).delete()
        if deleted:
            _event(conversation, Event.UNFOLLOWED, user)
    return bool(deleted)


def _wants(user: AbstractBaseUser, field: str) -> bool:
    if not user.email or not user.is_active:
        return False
    try:
        return getattr(user.staff_profile, field)
    except StaffProfile.DoesNotExist:
        return True


def _mail(
    user: AbstractBaseUser, *, subject: str, template: str, context: dict, reply_token: str = ""
) -> None:
    EmailMessage(
        subject=subject,
        body=render_to_string(
            template, {"name": staff_display_name(user), "answerable": bool(reply_token), **context}
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        reply_to=[REPLY.address(reply_token)] if reply_token else None,
        headers={"Auto-Submitted": "auto-generated"},
    ).send()


def notify_mentioned(*, event: ConversationEvent) -> int:
    sent = 0
    url = link_url("replies:conversation", [event.conversation_id])
    for person in event.mentioned.all():
        if _wants(person, "notify_on_mention"):
            _mail(
                person,
                subject=_("%(name)s mentioned you: %(subject)s")
                % {"name": staff_display_name(event.actor), "subject": event.conversation.subject},
                template="emails/replies/mentioned.txt",
                context={"event": event, "actor": staff_display_name(event.actor), "url": url},
            )
            sent += 1
    return sent


def notify_followers(*, message: Message) -> int:
    """A new reply in a followed conversation: its followers hear of it (the assignee gets their own mail)."""
    conversation = message.conversation
    url = link_url("replies:conversation", [conversation.pk])
    sent = 0
    for follow_row in Follow.objects.filter(conversation=conversation).select_related("user"):
        person = follow_row.user
        if person.pk == conversation.assignee_id or not _wants(person, "notify_on_follow"):
            continue
        _mail(
            person,
            subject=_("New reply in a conversation you follow: %(subject)s")
            % {"subject": message.subject or conversation.subject},
            template="emails/replies/followed_reply.txt",
            context={"message": message, "conversation": conversation, "url": url},
            reply_token=answerable_notification(person, message),  # answerable by mail too
        )
        sent += 1
    return sent


# --- Linking, merging, moving -----------------------------------------------------------------


def _refresh_times(conversation_id: int) -> None:
    """Last message and waiting time again from the messages (after a merge or a move)."""
    messages = Message.objects.filter(conversation_id=conversation_id)
    last = messages.aggregate(last=Max("created_at"))["last"]
    newest = messages.order_by("-created_at", "-id").first()
    waiting = None
    if newest is not None and newest.direction == Message.Direction.INBOUND:
        answered_at = messages.filter(direction=Message.Direction.OUTBOUND).aggregate(at=Max("created_at"))[
            "at"
        ]
        first_unanswered = messages.filter(direction=Message.Direction.INBOUND)
        if answered_at:
            first_unanswered = first_unanswered.filter(created_at__gt=answered_at)
        waiting = first_unanswered.order_by("created_at").values_list("created_at", flat=True).first()
    Conversation.objects.filter(pk=conversation_id).update(last_message_at=last, waiting_since=waiting)


def link_subscriber(
    *, conversation: Conversation, actor: AbstractBaseUser, subscriber: object
) -> ConversationEvent:
    """An unmatched mail belongs to this subscriber: the conversation is theirs from now on."""
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(subscriber=subscriber, is_unmatched=False)
        event = _event(
            conversation,
            Event.LINKED,
            actor,
            _("linked to %(subscriber)s (was %(address)s)")
            % {"subscriber": subscriber.email, "address": conversation.contact_address or "–"},
        )
    conversation.refresh_from_db()
    return event


def merge(*, source: Conversation, target: Conversation, actor: AbstractBaseUser) -> ConversationEvent:
    """Two conversations of one subscriber become one (the target): messages, notes and every
    other event, tags and followers move over; the source is removed, the act recorded in the target."""
    if source.pk == target.pk:
        raise NotPossible(_("A conversation cannot be merged into itself."))
    if source.subscriber_id != target.subscriber_id or (
        source.subscriber_id is None and source.contact_address.lower() != target.contact_address.lower()
    ):
        raise NotPossible(_("Only conversations with the same subscriber can be merged."))
    with transaction.atomic():
        Message.objects.filter(conversation=source).update(conversation=target)
        ConversationEvent.objects.filter(conversation=source).update(conversation=target)
        for tag in source.tags.all():
            target.tags.add(tag)
        for row in Follow.objects.filter(conversation=source):
            Follow.objects.get_or_create(conversation=target, user_id=row.user_id)
        event = _event(
            target,
            Event.MERGED,
            actor,
            _("merged #%(id)s “%(subject)s” into this one") % {"id": source.pk, "subject": source.subject},
        )
        source.delete()
        _refresh_times(target.pk)
        if (
            target.status == Conversation.Status.CLOSED
            and Conversation.objects.filter(pk=target.pk, waiting_since__isnull=False).exists()
        ):
            Conversation.objects.filter(pk=target.pk).update(status=Conversation.Status.OPEN)
    target.refresh_from_db()
    return event


def move_message(*, message: Message, target: Conversation, actor: AbstractBaseUser) -> None:
    """A mail threaded into the wrong conversation goes to the right one; both record it."""
    source_id = message.conversation_id
    if source_id == target.pk:
        raise NotPossible(_("The message is already in this conversation."))
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(conversation=target)
        _event(
            source_id,
            Event.MOVED,
            actor,
            _("message #%(message)s moved to #%(id)s “%(subject)s”")
            % {"message": message.pk, "id": target.pk, "subject": target.subject},
        )
        _event(
            target,
            Event.MOVED,
            actor,
            _("message #%(message)s moved here from #%(id)s") % {"message": message.pk, "id": source_id},
        )
        _refresh_times(source_id)
        _refresh_times(target.pk)
    message.refresh_from_db()


def subscriber_candidates(query: str, limit: int = 10) -> list:
    """Subscribers to link an unmatched mail to: by address (whole or part) or name."""
    query = query.strip()
    if not query:
        return []
    return list(
        Subscriber.objects.filter(Q(email__icontains=query) | Q(name__icontains=query)).order_by("email")[
            :limit
        ]
    )


__all__ = [
    "NotPossible",
    "follow",
    "link_subscriber",
    "merge",
    "mentioned_people",
    "move_message",
    "notify_followers",
    "notify_mentioned",
    "record_mentions",
    "set_tags",
    "subscriber_candidates",
    "unfollow",
]
