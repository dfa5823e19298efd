"""What happens once a rule has recognised a mail.

Each handler answers with an Outcome (replies.pipeline.context): what it did, as reasons for
the record, and the tasks to enqueue once the transaction commits (the decision loop
schedules them); no handler imports a tasks module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone

from campaigns import interface as campaigns
from replies.bounces import COMPLAINT, Failure, Report
from replies.models import Attachment, Conversation, ConversationEvent, InboundMessage, Message
from replies.parsing import ParsedMail, sanitise_html
from replies.pipeline.context import Context, Outcome
from replies.reasons import Reason, reason
from replies.routing import RoutingInput, decide, record_decision, record_tags, tags_for
from replies.selectors import wants_reply_notifications
from replies.threads import find_conversation, open_conversation
from rundbrief.effects import Enqueue
from rundbrief.events import emit
from rundbrief.mail.addresses import REPLY, verp
from subscribers import services as subscriber_services
from subscribers.models import Bounce, ConsentEvent, Subscriber, Subscription, email_hash

Method = InboundMessage.MatchMethod

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


def _routing_input(conversation: Conversation, ctx: Context, *, is_new: bool) -> RoutingInput:
    return RoutingInput(
        subject=ctx.mail.subject,
        body=ctx.mail.stripped_text,
        sender=ctx.mail.from_address,
        topic_ids=lambda: ctx.match.topic_ids or _topic_ids(conversation),
        conversation=conversation,
        campaign_contact=conversation.campaign.contact if conversation.campaign_id else None,
        test_sender=ctx.match.test_sender,
        is_new=is_new,
    )


def route(conversation: Conversation, ctx: Context, *, is_new: bool) -> tuple[list[Reason], bool]:
    """Decide who gets the conversation; returns what was done and whether the assignee changed."""
    previous = conversation.assignee_id
    decision = decide(_routing_input(conversation, ctx, is_new=is_new))
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
    tagged = record_tags(conversation, tags_for(_routing_input(conversation, ctx, is_new=is_new)))
    if tagged:
        actions.append(reason("tagged_by_rules", tags=", ".join(item.tag.name for item in tagged)))
    message = add_message(conversation, inbound, ctx, InboundMessage.Kind.HUMAN)
    emit("reply.received", conversation_id=conversation.pk, message_id=message.pk, new_conversation=is_new)
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


def _deliveries_quoted_in(report: Report) -> list[campaigns.Delivery]:
    """Our campaign mail, recognised in the returned original by its reply token or Message-ID
    (never by a token the report itself names: that may be any address a forger wrote)."""
    text = report.original
    tokens = REPLY.tokens_in_text(text) | verp().tokens_in_text(text)
    return campaigns.deliveries_quoted(
        tokens=tokens, message_ids=[*report.message_ids, *_MSGID_IN_TEXT.findall(text)]
    )


@dataclass
class _Target:
    """Whom one failure is about: a subscriber (and their delivery), or nobody we know."""

    failure: Failure | None
    subscriber: Subscriber | None
    delivery: campaigns.Delivery | None
    match: str


def _targets(inbound: InboundMessage, ctx: Context, report: Report) -> list[_Target]:
    """Only the recipient of the delivery the bounce is about, or a known subscriber named as failed.

    The delivery: the one whose VERP return path or reply address the bounce was sent to, else
    the ones whose reply token or Message-ID the returned original carries. A failed address that
    is neither that delivery's recipient nor the address of a subscriber we have mailed is kept
    and suppresses nothing.
    """
    by_envelope = ctx.match.method in (Method.VERP, Method.REPLY_TOKEN, Method.IN_REPLY_TO)
    deliveries: list[campaigns.Delivery] = []
    if by_envelope and ctx.match.delivery is not None:
        deliveries.append(ctx.match.delivery)
    matched_how = {
        Method.VERP: Bounce.Match.VERP,
        Method.REPLY_TOKEN: Bounce.Match.REPLY_TOKEN,
        Method.IN_REPLY_TO: Bounce.Match.MESSAGE_ID,
    }.get(ctx.match.method, Bounce.Match.MESSAGE_ID)
    if not deliveries:
        deliveries = [d for d in _deliveries_quoted_in(report) if d.subscriber_id]
        matched_how = Bounce.Match.MESSAGE_ID
    by_address = {d.subscriber.email.lower(): d for d in deliveries if d.subscriber is not None}
    answered = (
        ctx.match.subscriber if ctx.match.method == Method.VERP and ctx.match.delivery is None else None
    )

    targets: list[_Target] = []
    for failure in report.failures:
        delivery = by_address.get(failure.address)
        if delivery is not None:
            targets.append(_Target(failure, delivery.subscriber, delivery, matched_how))
            continue
        if len(report.failures) == 1 and (ctx.match.method == Method.VERP or report.kind == COMPLAINT):
            # Sent to one mail's own return path (that mail bounced, whatever address, a
            # forwarding target say, the report names), or a complaint about exactly one of our
            # mails (feedback loops redact the address). A bounce that merely quotes our mail
            # for another address is someone's forward bouncing: it suppresses nobody.
            if len(by_address) == 1:
                delivery = next(iter(by_address.values()))
                targets.append(_Target(failure, delivery.subscriber, delivery, matched_how))
                continue
            if answered is not None:
                targets.append(_Target(failure, answered, None, Bounce.Match.VERP))
                continue
        subscriber = Subscriber.objects.filter(email_hash=email_hash(failure.address)).first()
        if subscriber is not None and _was_mailed(subscriber):
            targets.append(_Target(failure, subscriber, None, Bounce.Match.SUBSCRIBER_ADDRESS))
        else:
            targets.append(_Target(failure, None, None, Bounce.Match.NONE))
    if not report.failures:
        if ctx.match.method == Method.VERP and (ctx.match.delivery is not None or answered is not None):
            delivery = ctx.match.delivery
            subscriber = delivery.subscriber if delivery is not None else answered
            targets.append(_Target(None, subscriber, delivery, Bounce.Match.VERP))
        elif len(by_address) == 1:
            delivery = next(iter(by_address.values()))
            targets.append(_Target(None, delivery.subscriber, delivery, matched_how))
        else:
            targets.append(_Target(None, None, None, Bounce.Match.NONE))
    return targets


def _was_mailed(subscriber: Subscriber) -> bool:
    """A failed address counts only if we ever mailed it (campaign mail, an answer, a system mail):
    a forged or misdirected DSN naming a subscriber we never wrote to suppresses nothing."""
    return (
        campaigns.was_mailed(subscriber.pk)
        or subscriber.system_mails.exists()
        or Message.objects.filter(
            conversation__subscriber=subscriber, direction=Message.Direction.OUTBOUND
        ).exists()
    )


def _facts(report: Report, failure: Failure | None, rule: str) -> subscriber_services.BounceFacts:
    if failure is None:
        return subscriber_services.BounceFacts(
            kind=report.kind,
            permanent=report.permanent,
            reason=Bounce.Reason.COMPLAINT if report.kind == COMPLAINT else report.reason,
            status=report.status,
            diagnostic=report.diagnostic,
            evidence=report.evidence,
            rule=rule,
        )
    return subscriber_services.BounceFacts(
        kind=report.kind,
        address=failure.address,
        permanent=failure.permanent,
        reason=Bounce.Reason.COMPLAINT if report.kind == COMPLAINT else failure.reason,
        status=failure.status,
        action=failure.action,
        diagnostic=failure.diagnostic,
        evidence=report.evidence,
        rule=rule,
    )


def _apply(inbound: InboundMessage, ctx: Context, rule: str) -> Outcome:
    report = ctx.finding(Report)
    if report is None:  # the rules always leave one; nothing to act on otherwise
        return Outcome(actions=[reason("bounce_nothing_named")])
    actions: list[Reason] = []
    bounced: set[int] = set()
    complained: set[int] = set()
    for target in _targets(inbound, ctx, report):
        shown = (
            target.failure.address
            if target.failure
            else (target.subscriber.email if target.subscriber else "")
        )
        if target.subscriber is None:
            actions.append(
                reason("bounce_unknown_address", email=shown) if shown else reason("bounce_nothing_named")
            )
        elif target.match == Bounce.Match.SUBSCRIBER_ADDRESS:
            actions.append(reason("bounce_known_subscriber", email=shown))
        else:
            actions.append(reason("bounce_attributed", email=target.subscriber.email, match=target.match))
        result = subscriber_services.record_bounce(
            facts=_facts(report, target.failure, rule),
            subscriber=target.subscriber,
            match=target.match,
            source=ConsentEvent.Source.EMAIL_REPLY,
            delivery_id=target.delivery.pk if target.delivery else None,
            campaign_id=target.delivery.campaign_id if target.delivery else None,
            inbound_message_id=inbound.pk,
        )
        if target.subscriber is None:
            continue
        email = target.subscriber.email
        if report.kind == COMPLAINT:
            actions.append(reason("complaint_suppressed", email=email))
            if target.delivery is not None:
                complained.add(target.delivery.pk)
            continue
        threshold = settings.BOUNCE_SCORE_THRESHOLD
        if result.already_suppressed and (result.bounce.permanent or result.score >= threshold):
            actions.append(reason("already_suppressed", email=email))
        elif result.suppressed and result.bounce.permanent:
            actions.append(reason("suppressed", email=email))
        elif result.suppressed:
            actions.append(reason("suppressed_soft", email=email, score=result.score, threshold=threshold))
        else:
            actions.append(reason("bounce_counted", email=email, score=result.score, threshold=threshold))
        if result.bounce.permanent and target.delivery is not None:
            bounced.add(target.delivery.pk)
    if bounced:
        campaigns.mark_bounced(sorted(bounced))
        actions.append(reason("marked_bounced", count=len(bounced)))
    if complained:
        campaigns.mark_complained(sorted(complained))
        actions.append(reason("marked_complained", count=len(complained)))
    return Outcome(actions=actions)


def handle_bounce(inbound: InboundMessage, ctx: Context) -> Outcome:
    """Recorded for every failure; suppresses only what bounced (see _targets); no queue item."""
    return _apply(inbound, ctx, "bounce")


def handle_complaint(inbound: InboundMessage, ctx: Context) -> Outcome:
    """A spam complaint unsubscribes and suppresses the recipient of the delivery it is about."""
    return _apply(inbound, ctx, "complaint")
