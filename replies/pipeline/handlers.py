"""What happens once a rule has recognised a mail. Each handler returns what it did, for the record."""

from __future__ import annotations

import re

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone, translation

from campaigns.models import Delivery
from replies.addresses import token_from_address
from replies.models import Attachment, Conversation, ConversationEvent, InboundMessage, Message
from replies.parsing import ParsedMail, sanitise_html
from replies.pipeline.rules import Context
from replies.reasons import Reason, reason, render
from replies.routing import RoutingInput, decide
from replies.selectors import wants_reply_notifications
from replies.threading import find_conversation, open_conversation
from subscribers import services as subscriber_services
from subscribers.models import ConsentEvent, Subscription, Suppression

_TOKEN_IN_TEXT = re.compile(r"reply\+[0-9a-f]{32}@[A-Za-z0-9.-]+", re.I)
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
        ids = list(conversation.campaign.topics.values_list("id", flat=True))
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
            is_new=is_new,
        )
    )
    if decision.rule == "keep_assignee":
        # The reason it went to this person in the first place stays the one shown.
        return [reason("kept_with_assignee"), *decision.reasons], False
    conversation.assignee = decision.user
    conversation.team = decision.team
    conversation.routing_rule = decision.rule
    conversation.routing_reasons = decision.reasons
    with translation.override("en"):  # the text kept beside the codes (admin, search, mails)
        conversation.routing_reason = render(decision.reasons)
    changed = decision.user is not None and decision.user.pk != previous
    return [reason("routed", rule=decision.rule), *decision.reasons], changed


def handle_human(inbound: InboundMessage, ctx: Context) -> list[Reason]:
    from replies.tasks import notify_assignee

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
    if wants_reply_notifications(conversation.assignee):
        transaction.on_commit(lambda: notify_assignee.delay(message.pk))
    return actions


def handle_auto_reply(inbound: InboundMessage, ctx: Context) -> list[Reason]:
    """Kept on the conversation's timeline (if there is one), never put in a queue."""
    conversation, threaded_by = find_conversation(ctx.match, ctx.mail, ctx.conversations)
    if conversation is None:
        return [reason("auto_reply_no_conversation")]
    add_message(conversation, inbound, ctx, InboundMessage.Kind.AUTO_REPLY)
    conversation.save(update_fields=["last_message_at"])
    return [reason("added_to_timeline_no_queue", id=conversation.pk), *filter(None, [threaded_by])]


def handle_unsubscribe(inbound: InboundMessage, ctx: Context) -> list[Reason]:
    from replies.tasks import send_unsubscribe_confirmation

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
    subscriber_id = subscriber.pk
    transaction.on_commit(lambda: send_unsubscribe_confirmation.delay(subscriber_id, inbound.pk))
    actions.append(reason("confirmation_queued"))
    return actions


def _deliveries_quoted_in(raw_text: str) -> list[Delivery]:
    """Our campaign mail, recognised in the returned original by its reply token or Message-ID."""
    tokens = {token_from_address(a) for a in _TOKEN_IN_TEXT.findall(raw_text)} - {None}
    msgids = set(_MSGID_IN_TEXT.findall(raw_text))
    if not tokens and not msgids:
        return []
    found = Delivery.objects.filter(reply_token__in=tokens) | Delivery.objects.filter(message_id__in=msgids)
    return list(found.select_related("subscriber"))


def handle_bounce(inbound: InboundMessage, ctx: Context) -> list[Reason]:
    """A hard bounce suppresses the failed address, as the ESP's bounce events do; no queue item."""
    facts = ctx.facts.get("bounce", {})
    if not facts.get("hard"):
        return [reason("delay_only")]
    raw_text = bytes(inbound.raw).decode("utf-8", "replace")
    deliveries = _deliveries_quoted_in(raw_text)
    if ctx.match.delivery is not None and ctx.match.delivery not in deliveries:
        deliveries.append(ctx.match.delivery)
    failed = list(facts.get("failed", []))
    if not failed:
        failed = [d.subscriber.email.lower() for d in deliveries if d.subscriber]
    if not failed:
        return [reason("no_failed_recipient")]
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
        Delivery.objects.filter(pk__in=bounced).update(
            status=Delivery.Status.BOUNCED, updated_at=timezone.now()
        )
        actions.append(reason("marked_bounced", count=len(bounced)))
    return actions
