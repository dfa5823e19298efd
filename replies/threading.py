"""Threading: which Conversation an inbound mail belongs to.

A conversation is one subscriber's replies about one campaign (or one thread started
by an answer of ours). A reply to one of our staff answers joins that answer's
conversation; a reply to a campaign mail joins the subscriber's latest conversation
about that campaign; a known subscriber writing out of the blue joins their latest
open conversation; unmatched mail is grouped by sender address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import QuerySet

from replies.matching import Match
from replies.models import Conversation
from replies.parsing import ParsedMail

Pair = tuple[int, int]  # (subscriber id, campaign id)


def _conversations() -> QuerySet[Conversation]:
    return Conversation.objects.select_related("assignee__staff_profile").order_by("-created_at", "-id")


@dataclass
class PrefetchedConversations:
    """Each (subscriber, campaign)'s latest conversation, looked up once for a batch of mail.

    Like the prefetched deliveries, an answer serves one mail only: the next mail of the
    same pair queries afresh and so sees the conversation the earlier one opened.
    """

    looked_up: set[Pair] = field(default_factory=set)
    latest: dict[Pair, Conversation] = field(default_factory=dict)

    @classmethod
    def for_matches(cls, matches: Sequence[Match]) -> PrefetchedConversations:
        pairs = {_pair(m) for m in matches if m.conversation is None and _pair(m) is not None}
        if not pairs:
            return cls()
        latest: dict[Pair, Conversation] = {}
        rows = _conversations().filter(
            subscriber_id__in={s for s, _c in pairs}, campaign_id__in={c for _s, c in pairs}
        )
        for conversation in rows:
            latest.setdefault((conversation.subscriber_id, conversation.campaign_id), conversation)
        return cls(looked_up=pairs, latest={p: c for p, c in latest.items() if p in pairs})

    def take(self, pair: Pair) -> tuple[bool, Conversation | None]:
        if pair not in self.looked_up:
            return False, None
        self.looked_up.discard(pair)
        return True, self.latest.pop(pair, None)


def _pair(match: Match) -> Pair | None:
    if match.subscriber is None or match.campaign is None:
        return None
    return (match.subscriber.pk, match.campaign.pk)


def existing_conversation(
    match: Match, mail: ParsedMail, prefetched: PrefetchedConversations | None = None
) -> Conversation | None:
    conversation = _find(match, mail, prefetched)
    if (
        conversation is not None
        and match.campaign is not None
        and conversation.campaign_id == match.campaign.pk
    ):
        conversation.campaign = match.campaign  # already loaded with its contact person
    return conversation


def _find(match: Match, mail: ParsedMail, prefetched: PrefetchedConversations | None) -> Conversation | None:
    if match.conversation is not None:
        return match.conversation
    pair = _pair(match)
    if pair is not None:
        if prefetched is not None:
            known, conversation = prefetched.take(pair)
            if known:
                return conversation
        return _conversations().filter(subscriber=match.subscriber, campaign=match.campaign).first()
    if match.subscriber is not None:
        return (
            _conversations()
            .filter(subscriber=match.subscriber)
            .exclude(status=Conversation.Status.CLOSED)
            .first()
        )
    if mail.from_address:
        return (
            _conversations()
            .filter(is_unmatched=True, contact_address=mail.from_address)
            .exclude(status=Conversation.Status.CLOSED)
            .first()
        )
    return None


def open_conversation(match: Match, mail: ParsedMail, *, save: bool = True) -> Conversation:
    conversation = Conversation(
        subscriber=match.subscriber,
        campaign=match.campaign,
        contact_address=(match.subscriber.email if match.subscriber else mail.from_address)[:320],
        subject=mail.subject[:998],
        is_unmatched=not match.matched,
    )
    if save:
        conversation.save()
    return conversation
