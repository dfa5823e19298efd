"""What happens once a rule has recognised a mail.

Each handler answers with an Outcome (replies.pipeline.context): what it did, as reasons for
the record, and the tasks to enqueue once the transaction commits (the decision loop
schedules them); no handler imports a tasks module.
"""

from __future__ import annotations

import re

from django.core.files.base import ContentFile
from django.utils import timezone

from campaigns import interface as campaigns
from replies.models import Attachment, Conversation, ConversationEvent, InboundMessage, Message
from replies.parsing import ParsedMail, sanitise_html
from replies.pipeline.context import Bounce, Context, Outcome
from replies.reasons import Reason, reason
from replies.routing import RoutingInput, decide, record_decision
from replies.selectors import wants_reply_notifications
from replies.threads import find_conversation, open_conversation
from rundbrief.effects import Enqueue
from rundbrief.mail.addresses import REPLY
from subscribers import services as subscriber_services
from subscribers.models import ConsentEvent, Subscription, Suppression

_MSGID_IN_TEXT = re.compile(r"^Message-ID:\s*(<[^<>\s]+>)", re.I | re.M)


def add_message(conversation: Conversation, inbound: InboundMessage, ctx: Context, kind: str) -> Message:
    mail: ParsedMail = ctx.mail
    message = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        kind=kind,
        inbound=inbound,
        delivery=ctx.match.delivery,
        from_address=(f"{mail.from_name} <{mail.from_address}>" if mail.from_name else mail.from_address)[
            :998
        ],
        to_address=", ".join(mail.recipients)[:998],
        subject=mail.subject[:998],
        text=mail.text,
        stripped_text=mail.stripped_text,
        html=sanitise_html(mail.html) if mail.html else "",
        message_id=mail.message_id[:998],
        in_reply_to=" ".join(mail.in_reply_to)[:998],
        references=" ".join(mail.references),
    )
    for part in mail.attachments:
        attachment = Attachment(
            message=message,
            filename=part.filename[:255],
            content_type=part.content_type[:255],
            size=len(part.payload),
        )
        attachment.file.save(_safe_filename(part.filename), ContentFile(part.payload), save=False)
        attachment.save()
    conversation.last_message_at = message.created_at
    return message


def _safe_filename(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "attachment"
    return cleaned[-100:]


def _topic_ids(conversation: Conversation) -> list[int]:
    if conversation.campaign_id:
        ids = campaigns.campaign_topic_ids(conversation.campaign_id)
        if ids:
            return ids
    if conversation.subscriber_id:
        return list(
            Subscription.objects.filter(
                subscriber_id=conversation.subscriber_id, status=Subscription.Status.ACTIVE
            ).values_list("topic_id", flat=True)
        )
    return []


def route(conversation: Conversation, ctx: Context, *, is_new: bool) -> tuple[list[Reason], bool]:
    """Decide who gets the conversation; returns what was done and whether the assignee changed."""
    previous = conversation.assignee_id
    decision = decide(
        RoutingInput(
            subject=ctx.mail.subject,
            body=ctx.mail.stripped_text,
            sender=ctx.mail.from_address,
            topic_ids=lambda: _topic_ids(conversation),
            conversation=conversation,
            campaign_contact=conversation.campaign.contact if conversation.campaign_id else None,
            test_sender=ctx.match.test_sender,
            is_new=is_new,
        )
    )
    if decision.rule == "keep_assignee":
        # The reason it went to this person in the first place stays the one shown.
        return [reason("kept_with_assignee"), *decision.reasons], False
    record_decision(conversation, decision)
    changed = decision.user is not None and decision.user.pk != previous
    return [reason("routed", rule=decision.rule), *decision.reasons], changed


def handle_human(inbound: InboundMessage, ctx: Context) -> Outcome:
    conversation, threaded_by = find_conversation(ctx.match, ctx.mail, ctx.conversations)
    is_new = conversation is None
    if conversation is None:
        # Routed before it is saved, so a new conversation costs one INSERT.
        conversation = open_conversation(ctx.match, ctx.mail, save=False)
        actions = [reason("opened_conversation")]
    else:
        actions = [reason("joined_conversation", id=conversation.pk)]
    if threaded_by is not None:  # why this one (or a new one), when the match alone does not say
        actions.append(threaded_by)
    if not is_new and conversation.status != Conversation.Status.OPEN:
        actions.append(reason("reopened", status=conversation.status))
        if conversation.status == Conversation.Status.CLOSED:
            is_new = True  # a closed conversation is routed afresh
        conversation.status = Conversation.Status.OPEN
        conversation.snoozed_until = None
    now = timezone.now()
    if conversation.waiting_since is None:
        conversation.waiting_since = now
    conversation.last_message_at = now
    routing_actions, assignee_changed = route(conversation, ctx, is_new=is_new)
    actions += routing_actions
    conversation.save()
    if assignee_changed:
        ConversationEvent.objects.create(
            conversation=conversation,
            kind=ConversationEvent.Kind.ASSIGNED,
            assignee_id=conversation.assignee_id,
            reasons=conversation.routing_reasons,
        )
    message = add_message(conversation, inbound, ctx, InboundMessage.Kind.HUMAN)
    outcome = Outcome(actions=actions)
    if wants_reply_notifications(conversation.assignee):
        outcome.effects.append(Enqueue("replies.tasks.notify_assignee_task", (message.pk,)))
    return outcome


def handle_auto_reply(inbound: InboundMessage, ctx: Context) -> Outcome:
    """Kept on the conversation's timeline (if there is one), never put in a queue."""
    conversation, threaded_by = find_conversation(ctx.match, ctx.mail, ctx.conversations)
    if conversation is None:
        return Outcome(actions=[reason("auto_reply_no_conversation")])
    add_message(conversation, inbound, ctx, InboundMessage.Kind.AUTO_REPLY)
    conversation.save(update_fields=["last_message_at"])
    return Outcome(
        actions=[reason("added_to_timeline_no_queue", id=conversation.pk), *filter(None, [threaded_by])]
    )


def handle_unsubscribe(inbound: InboundMessage, ctx: Context) -> Outcome:
    subscriber = ctx.match.subscriber
    details = {"inbound_message_id": inbound.pk}
    if ctx.match.campaign is not None:
        details["campaign_id"] = ctx.match.campaign.pk
    subscriber_services.unsubscribe(
        subscriber=subscriber, source=ConsentEvent.Source.EMAIL_REPLY, details=details
    )
    actions = [reason("unsubscribed", email=subscriber.email)]
    conversation, threaded_by = find_conversation(ctx.match, ctx.mail, ctx.conversations)
    if conversation is not None:
        add_message(conversation, inbound, ctx, InboundMessage.Kind.UNSUBSCRIBE)
        conversation.save(update_fields=["last_message_at"])
        actions += [reason("added_to_timeline", id=conversation.pk), *filter(None, [threaded_by])]
    actions.append(reason("confirmation_queued"))
    return Outcome(
        actions=actions,
        effects=[Enqueue("replies.tasks.send_unsubscribe_confirmation_task", (subscriber.pk, inbound.pk))],
    )


def _deliveries_quoted_in(raw_text: str) -> list[campaigns.Delivery]:
    """Our campaign mail, recognised in the returned original by its reply token or Message-ID."""
    return campaigns.deliveries_quoted(
        tokens=REPLY.tokens_in_text(raw_text), message_ids=_MSGID_IN_TEXT.findall(raw_text)
    )


def handle_bounce(inbound: InboundMessage, ctx: Context) -> Outcome:
    """A hard bounce suppresses the failed address, as the ESP's bounce events do; no queue item."""
    found = ctx.finding(Bounce) or Bounce()
    if not found.hard:
        return Outcome(actions=[reason("delay_only")])
    raw_text = bytes(inbound.raw).decode("utf-8", "replace")
    deliveries = _deliveries_quoted_in(raw_text)
    if ctx.match.delivery is not None and ctx.match.delivery not in deliveries:
        deliveries.append(ctx.match.delivery)
    failed = list(found.failed)
    if not failed:
        failed = [d.subscriber.email.lower() for d in deliveries if d.subscriber]
    if not failed:
        return Outcome(actions=[reason("no_failed_recipient")])
    actions = []
    for address in failed:
        subscriber_services.suppress_address(
            email=address,
            reason=Suppression.Reason.HARD_BOUNCE,
            source=ConsentEvent.Source.EMAIL_REPLY,
            details={"inbound_message_id": inbound.pk, "via": "bounce message"},
        )
        actions.append(reason("suppressed", email=address))
    bounced = [d.pk for d in deliveries if d.subscriber and d.subscriber.email.lower() in failed]
    if bounced:
        campaigns.mark_bounced(bounced)
        actions.append(reason("marked_bounced", count=len(bounced)))
    return Outcome(actions=actions)
