"""A staff member answers a new-reply notification by mail: the answer goes into the conversation.

The notification's Reply-To carries a one-time token (replies.models.StaffNotification). Its
answer is posted as the staff member's answer (quotes stripped as for subscribers' replies, sent
to the subscriber under their name) only if it comes from the address of the staff member the
notification was sent to, who may still answer the conversation, is a person's mail (not an
out-of-office reply) and nobody else answered since the notification. Anything else, and mail
from a staff address to one of our reply addresses that matches nothing (a forged or mistyped
token), is refused: kept as an inbound message (kind "refused") with the reason, on the
conversation's timeline too when the token named one.

The pipeline does not import the services (they import it); the caller of the decision loop
hands it the service that stores an answer (Context.post_answer, replies.services.batches).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.files.base import ContentFile

from replies import selectors
from replies.models import ConversationEvent, InboundMessage, Message, StaffNotification
from replies.pipeline.auto_reply import AutoReplyRule
from replies.pipeline.context import Context, Outcome, StaffAnswer, Verdict
from replies.pipeline.rules import Rule
from replies.reasons import Reason, as_json, reason
from replies.selectors import staff_display_name


def _staff_with_address(address: str):
    return selectors.assignable_staff().filter(email__iexact=address).first() if address else None


class StaffAnswerRule(Rule):
    name = "staff_answer"
    description = (
        "An answer to a new-reply notification (its reply address), or mail from a staff address "
        "to a reply address of ours that matches nothing."
    )

    def check(self, ctx: Context) -> Verdict:
        notification = ctx.match.notification
        if notification is not None:
            return Verdict.hit_because(
                reason("staff_answer_notification", name=staff_display_name(notification.user)),
                finding=StaffAnswer(),
            )
        if ctx.match.staff_to_unknown_token is not None:  # looked up by replies.matching
            _staff, address = ctx.match.staff_to_unknown_token
            return Verdict.hit_because(
                reason("staff_answer_unknown_token", address=ctx.mail.from_address, token_address=address),
                finding=StaffAnswer(),
            )
        return Verdict.miss()


@dataclass(frozen=True)
class _Refusal:
    why: Reason


def _refusal(notification: StaffNotification | None, ctx: Context) -> _Refusal | None:
    sender = ctx.mail.from_address.strip().lower()
    if notification is None:
        return _Refusal(reason("staff_refused_unknown_token"))
    user = notification.user
    name = staff_display_name(user)
    if not user.email or sender != user.email.strip().lower():
        other = _staff_with_address(sender)
        if other is not None and other.pk != user.pk:
            return _Refusal(reason("staff_refused_other_staff", address=sender, name=name))
        return _Refusal(reason("staff_refused_sender", address=sender or "–", name=name))
    conversation = notification.conversation
    may_answer = (
        user.is_active
        and user.has_perm("replies.change_conversation")
        and selectors.visible_conversations(user).filter(pk=conversation.pk).exists()
    )
    if not may_answer:
        return _Refusal(reason("staff_refused_not_allowed", name=name))
    if AutoReplyRule().check(ctx).hit:
        return _Refusal(reason("staff_refused_automatic"))
    if not ctx.mail.stripped_text.strip():
        return _Refusal(reason("staff_refused_empty"))
    other_answer = (
        Message.objects.filter(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            created_at__gt=notification.sent_at,
        )
        .exclude(author=user)
        .select_related("author__staff_profile")
        .first()
    )
    if other_answer is not None:
        who = staff_display_name(other_answer.author) if other_answer.author else "?"
        return _Refusal(reason("staff_refused_answered", other=who))
    return None


def _refused(inbound: InboundMessage, notification: StaffNotification | None, why: Reason) -> Outcome:
    if notification is not None:  # the conversation shows it was refused, and why
        ConversationEvent.objects.create(
            conversation=notification.conversation,
            kind=ConversationEvent.Kind.REFUSED,
            reasons=as_json([why]),
            text=inbound.from_address[:998],
        )
    return Outcome(actions=[why], kind=InboundMessage.Kind.REFUSED)


def handle_staff_answer(inbound: InboundMessage, ctx: Context) -> Outcome:
    notification = ctx.match.notification
    refusal = _refusal(notification, ctx)
    if refusal is not None:
        return _refused(inbound, notification, refusal.why)
    if ctx.post_answer is None:  # the caller gave the loop no way to store answers
        return _refused(
            inbound, notification, reason("staff_refused_not_possible", error="no answer service")
        )
    files = []
    for part in ctx.mail.attachments:
        upload = ContentFile(part.payload, name=part.filename or "attachment")
        upload.content_type = part.content_type
        files.append(upload)
    try:
        answer = ctx.post_answer(
            conversation=notification.conversation,
            author=notification.user,
            text=ctx.mail.stripped_text,
            attachments=files,
        )
    except ValueError as exc:  # ReplyNotPossible (nobody to answer to), or an empty text
        return _refused(inbound, notification, reason("staff_refused_not_possible", error=str(exc)))
    return Outcome(
        actions=[
            reason(
                "staff_answer_posted",
                name=staff_display_name(notification.user),
                id=notification.conversation_id,
            )
        ],
        answer=answer,
    )
