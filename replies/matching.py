"""Which subscriber, campaign mail or conversation an inbound mail answers.

In order, the first that finds something wins and is recorded as the match method:
the token in a recipient address, a reply address or a VERP return path (a bounce sent to
the envelope sender of one mail: campaign Delivery or one of our staff answers),
then In-Reply-To/References against the Message-IDs we sent, then the sender address
of a known subscriber. Nothing found: the mail is unmatched (and still kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser

from campaigns import interface as campaigns
from campaigns.interface import Campaign, Delivery
from replies.models import Conversation, InboundMessage, Message, StaffNotification
from replies.parsing import ParsedMail
from replies.reasons import Reason, reason
from replies.selectors import assignable_staff
from rundbrief.mail.addresses import REPLY, TokenAddress, verp
from subscribers.models import Subscriber, SystemMail, email_hash

Method = InboundMessage.MatchMethod


@dataclass
class Match:
    method: str = Method.NONE
    reason: Reason | None = None  # a code and its parameters (replies.reasons)
    subscriber: Subscriber | None = None
    delivery: Delivery | None = None
    campaign: Campaign | None = None
    conversation: Conversation | None = None  # when the mail answers one of our staff answers
    topic_ids: list[int] = field(default_factory=list)  # when it answers a system mail: its topics
    # When the mail answers a campaign's test mail: who sent the test (it is theirs, no subscriber's).
    test_sender: AbstractBaseUser | None = None
    # When the mail answers a new-reply notification we sent a staff member (its reply address):
    # a staff answer by mail, never a subscriber's reply (replies.pipeline.staff_answers).
    notification: StaffNotification | None = None
    # A staff member writing to one of our reply addresses whose token matched nothing (forged,
    # mistyped, or from another installation): (the staff user, the address); refused, not a reply.
    staff_to_unknown_token: tuple[AbstractBaseUser, str] | None = None

    @property
    def matched(self) -> bool:
        return self.method != Method.NONE


def _from_delivery(delivery: Delivery, method: str, why: Reason) -> Match:
    return Match(
        method=method,
        reason=why,
        subscriber=delivery.subscriber,
        delivery=delivery,
        campaign=delivery.campaign,
    )


def _from_answer(answer: Message, method: str, why: Reason) -> Match:
    conversation = answer.conversation
    return Match(
        method=method,
        reason=why,
        subscriber=conversation.subscriber,
        campaign=conversation.campaign,
        conversation=conversation,
    )


def _token_kinds() -> list[tuple[TokenAddress, str]]:
    return [(REPLY, Method.REPLY_TOKEN), (verp(), Method.VERP)]


def recipient_tokens(recipients: Iterable[str]) -> list[tuple[str, str, str]]:
    """(address, token, match method) for each of our reply or VERP addresses among the recipients."""
    found = []
    for address in recipients:
        for kind, method in _token_kinds():
            token = kind.token_of(address)
            if token:
                found.append((address, token, method))
                break
    return found


def reply_tokens(mail: ParsedMail) -> list[str]:
    """The tokens of our reply and VERP addresses among the mail's recipients, in their order."""
    return [token for _address, token, _method in recipient_tokens(mail.recipients)]


@dataclass
class Prefetched:
    """Campaign deliveries looked up once for a batch of mail, by reply token.

    Each prefetched row serves one mail (then it is gone): a later mail with the same
    token queries afresh, so it sees whatever the earlier one changed.
    """

    looked_up: set[str] = field(default_factory=set)
    deliveries: dict[str, Delivery] = field(default_factory=dict)

    @classmethod
    def for_mails(cls, mails: Sequence[ParsedMail]) -> Prefetched:
        tokens = {token for mail in mails for token in reply_tokens(mail)}
        if not tokens:
            return cls()
        return cls(looked_up=tokens, deliveries=campaigns.deliveries_by_reply_token(tokens))

    def take(self, token: str) -> tuple[bool, Delivery | None]:
        """(known, delivery): known is False when the token was not prefetched (or is used up)."""
        if token not in self.looked_up:
            return False, None
        self.looked_up.discard(token)
        return True, self.deliveries.pop(token, None)


def _delivery_by_token(token: str, prefetched: Prefetched | None) -> Delivery | None:
    if prefetched is not None:
        known, delivery = prefetched.take(token)
        if known:
            return delivery
    return campaigns.delivery_by_reply_token(token)


def by_reply_token(recipients: Iterable[str], prefetched: Prefetched | None = None) -> Match | None:
    for address, token, method in recipient_tokens(recipients):
        verp_match = method == Method.VERP
        delivery = _delivery_by_token(token, prefetched)
        if delivery:
            code = "verp_campaign" if verp_match else "token_campaign"
            return _from_delivery(delivery, method, reason(code, address=address))
        test = campaigns.test_send_by_reply_token(token)
        if test:
            return Match(
                method=method,
                reason=reason("token_test", address=address),
                campaign=test.campaign,
                test_sender=test.sent_by,
            )
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
            code = "verp_answer" if verp_match else "token_answer"
            return _from_answer(answer, method, reason(code, address=address))
        notification = (
            None
            if verp_match  # notifications have no VERP return path: a bounce there names nobody
            else StaffNotification.objects.select_related(
                "user__staff_profile", "conversation__subscriber", "conversation__assignee"
            )
            .filter(token=token)
            .first()
        )
        if notification:
            # Nobody's reply: no subscriber or campaign, so no other rule acts for one of them.
            return Match(
                method=method,
                reason=reason("token_notification", address=address),
                notification=notification,
            )
        system_mail = SystemMail.objects.select_related("subscriber").filter(token=token).first()
        if system_mail:
            code = "verp_system_mail" if verp_match else "token_system_mail"
            return Match(
                method=method,
                reason=reason(code, address=address, kind=system_mail.kind),
                subscriber=system_mail.subscriber,
                topic_ids=list(system_mail.topic_ids),
            )
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
    deliveries = campaigns.deliveries_by_message_id(ids)
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
            return _from_answer(answers[msgid], Method.IN_REPLY_TO, reason("msgid_answer", message_id=msgid))
        if msgid in deliveries:
            return _from_delivery(
                deliveries[msgid], Method.IN_REPLY_TO, reason("msgid_campaign", message_id=msgid)
            )
    return None


def by_sender(address: str) -> Match | None:
    if not address:
        return None
    subscriber = Subscriber.objects.filter(email_hash=email_hash(address)).first()
    if subscriber is None:
        return None
    return Match(method=Method.SENDER, reason=reason("known_sender", address=address), subscriber=subscriber)


def staff_to_unknown_token(mail: ParsedMail) -> tuple[AbstractBaseUser, str] | None:
    """A staff address writing to a reply address of ours that matched nothing."""
    ours = [
        address
        for address, _token, method in recipient_tokens(mail.recipients)
        if method == Method.REPLY_TOKEN
    ]
    if not ours or not mail.from_address:
        return None
    staff = assignable_staff().filter(email__iexact=mail.from_address).first()
    return (staff, ours[0]) if staff is not None else None


def match_mail(mail: ParsedMail, prefetched: Prefetched | None = None) -> Match:
    token_match = by_reply_token(mail.recipients, prefetched)
    if token_match is not None:
        return token_match
    found = (
        by_message_ids(thread_ids(mail)) or by_sender(mail.from_address) or Match(reason=reason("unmatched"))
    )
    found.staff_to_unknown_token = staff_to_unknown_token(mail)
    return found
