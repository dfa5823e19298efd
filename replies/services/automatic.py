"""Our automatic mail: notifications to staff, the unsubscribe confirmation
(RFC 3834: marked, never sent in answer to automatic mail).
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from replies.models import ConversationEvent, InboundMessage, Message, StaffNotification
from replies.selectors import staff_display_name, wants_reply_notifications
from rundbrief.links import link_url
from rundbrief.mail.addresses import REPLY, new_token
from subscribers.mails import answerable, system_mail_token
from subscribers.models import Subscriber, SystemMail
from subscribers.tokens import preferences_url


def _mail_staff(user, *, subject: str, template: str, context: dict, reply_token: str = "") -> None:
    """A notification to a staff member, marked automatic so no auto-responder answers it.

    With a reply token (answerable_notification): its Reply-To is the notification's own reply
    address, and the staff member's answer to it is posted into the conversation.
    """
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


def answerable_notification(user, message: Message) -> str:
    """A stored one-time token for a new-reply notification to this person (its reply address)."""
    token = new_token()
    StaffNotification.objects.create(
        token=token, user=user, conversation_id=message.conversation_id, message=message
    )
    return token


def notify_assignee(*, message: Message) -> bool:
    """Tell the assignee a new reply is waiting, if they want mail about it."""
    conversation = message.conversation
    user = conversation.assignee
    if not wants_reply_notifications(user):
        return False
    _mail_staff(
        user,
        subject=_("New reply: %(subject)s") % {"subject": message.subject or conversation.subject},
        template="emails/replies/new_reply.txt",
        context={
            "message": message,
            "conversation": conversation,
            "url": link_url("replies:conversation", [conversation.pk]),
        },
        reply_token=answerable_notification(user, message),
    )
    return True


def notify_reassigned(*, event: ConversationEvent) -> bool:
    user = event.assignee
    if not wants_reply_notifications(user):
        return False
    _mail_staff(
        user,
        subject=_("Assigned to you: %(subject)s") % {"subject": event.conversation.subject},
        template="emails/replies/reassigned.txt",
        context={
            "actor": staff_display_name(event.actor) if event.actor else "",
            "event": event,
            "conversation": event.conversation,
            "url": link_url("replies:conversation", [event.conversation_id]),
        },
    )
    return True


def send_unsubscribe_confirmation(*, subscriber_id: int, inbound: InboundMessage | None) -> bool:
    """The short confirmation after an unsubscribe by reply, in the subscriber's language."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        return False
    headers = {"Auto-Submitted": "auto-replied"}
    if inbound is not None and inbound.message_id:
        headers["In-Reply-To"] = inbound.message_id
        headers["References"] = inbound.message_id
    topic_ids = subscriber.subscriptions.values_list("topic_id", flat=True)
    token = system_mail_token(
        subscriber=subscriber, kind=SystemMail.Kind.UNSUBSCRIBED, topic_ids=list(topic_ids)
    )
    with translation.override(subscriber.language):
        message = EmailMessage(
            subject=_("You have been unsubscribed"),
            body=render_to_string(
                "emails/replies/unsubscribed.txt",
                {"subscriber": subscriber, "preferences_url": preferences_url(subscriber.pk)},
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[subscriber.email],
            headers=headers,
        )
    answerable(message, token).send()  # an answer reaches the topics' owner, a bounce names it
    return True
