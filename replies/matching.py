"""Which subscriber, campaign mail or conversation an inbound mail answers.

In order, the first that finds something wins and is recorded as the match method:
the reply token in a recipient address (campaign Delivery or one of our staff answers),
then In-Reply-To/References against the Message-IDs we sent, then the sender address
of a known subscriber. Nothing found: the mail is unmatched (and still kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from campaigns.models import Campaign, Delivery
from replies.addresses import token_from_address
from replies.models import Conversation, InboundMessage, Message
from replies.parsing import ParsedMail
from subscribers.models import Subscriber, email_hash

Method = InboundMessage.MatchMethod


@dataclass
class Match:
    method: str = Method.NONE
    reason: str = ""
    subscriber: Subscriber | None = None
    delivery: Delivery | None = None
    campaign: Campaign | None = None
    conversation: Conversation | None = None  # when the mail answers one of our staff answers

    @property
    def matched(self) -> bool:
        return self.method != Method.NONE


def _from_delivery(delivery: Delivery, method: str, reason: str) -> Match:
    return Match(
        method=method,
        reason=reason,
        subscriber=delivery.subscriber,
        delivery=delivery,
        campaign=delivery.campaign,
    )


def _from_answer(answer: Message, method: str, reason: str) -> Match:
    conversation = answer.conversation
    return Match(
        method=method,
        reason=reason,
        subscriber=conversation.subscriber,
        campaign=conversation.campaign,
        conversation=conversation,
    )


def by_reply_token(recipients: Iterable[str]) -> Match | None:
    for address in recipients:
        token = token_from_address(address)
        if not token:
            continue
        delivery = (
            Delivery.objects.select_related("subscriber", "campaign__contact__staff_profile")
            .filter(reply_token=token)
            .first()
        )
        if delivery:
            return _from_delivery(delivery, Method.REPLY_TOKEN, f"reply token in {address}: campaign mail")
        answer = (
            Message.objects.select_related(
                "conversation__subscriber",
                "conversation__campaign__contact__staff_profile",
                "conversation__assignee__staff_profile",
            )
            .filter(reply_token=token, direction=Message.Direction.OUTBOUND)
            .first()
        )
        if answer:
            return _from_answer(answer, Method.REPLY_TOKEN, f"reply token in {address}: our answer")
    return None


def thread_ids(mail: ParsedMail) -> list[str]:
    """In-Reply-To first, then References newest first: the order we try them in."""
    ids = list(mail.in_reply_to)
    for msgid in reversed(mail.references):
        if msgid not in ids:
            ids.append(msgid)
    return ids


def by_message_ids(ids: list[str]) -> Match | None:
    if not ids:
        return None
    deliveries = {
        d.message_id: d
        for d in Delivery.objects.select_related("subscriber", "campaign__contact__staff_profile").filter(
            message_id__in=ids
        )
    }
    answers = {
        m.message_id: m
        for m in Message.objects.select_related(
            "conversation__subscriber",
            "conversation__campaign__contact__staff_profile",
            "conversation__assignee__staff_profile",
        ).filter(message_id__in=ids, direction=Message.Direction.OUTBOUND)
    }
    for msgid in ids:
        if msgid in answers:
            return _from_answer(answers[msgid], Method.IN_REPLY_TO, f"{msgid} is one of our answers")
        if msgid in deliveries:
            return _from_delivery(deliveries[msgid], Method.IN_REPLY_TO, f"{msgid} is a campaign mail")
    return None


def by_sender(address: str) -> Match | None:
    if not address:
        return None
    subscriber = Subscriber.objects.filter(email_hash=email_hash(address)).first()
    if subscriber is None:
        return None
    return Match(method=Method.SENDER, reason=f"{address} is a known subscriber", subscriber=subscriber)


def match_mail(mail: ParsedMail) -> Match:
    return (
        by_reply_token(mail.recipients)
        or by_message_ids(thread_ids(mail))
        or by_sender(mail.from_address)
        or Match(reason="no reply token, no known Message-ID, unknown sender")
    )
