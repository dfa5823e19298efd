"""Threading: which Conversation an inbound mail belongs to.

A conversation is one subscriber's replies about one campaign (or one thread started
by an answer of ours). A reply to one of our staff answers joins that answer's
conversation; a reply to a campaign mail joins the subscriber's latest conversation
about that campaign; a known subscriber writing out of the blue joins their latest
open conversation; unmatched mail is grouped by sender address.
"""

from __future__ import annotations

from replies.matching import Match
from replies.models import Conversation
from replies.parsing import ParsedMail


def existing_conversation(match: Match, mail: ParsedMail) -> Conversation | None:
    conversation = _find(match, mail)
    if (
        conversation is not None
        and match.campaign is not None
        and conversation.campaign_id == match.campaign.pk
    ):
        conversation.campaign = match.campaign  # already loaded with its contact person
    return conversation


def _find(match: Match, mail: ParsedMail) -> Conversation | None:
    if match.conversation is not None:
        return match.conversation
    if match.subscriber is not None and match.campaign is not None:
        return (
            Conversation.objects.select_related("assignee__staff_profile")
            .filter(subscriber=match.subscriber, campaign=match.campaign)
            .order_by("-created_at", "-id")
            .first()
        )
    if match.subscriber is not None:
        return (
            Conversation.objects.select_related("assignee__staff_profile")
            .filter(subscriber=match.subscriber)
            .exclude(status=Conversation.Status.CLOSED)
            .order_by("-created_at", "-id")
            .first()
        )
    if mail.from_address:
        return (
            Conversation.objects.select_related("assignee__staff_profile")
            .filter(is_unmatched=True, contact_address=mail.from_address)
            .exclude(status=Conversation.Status.CLOSED)
            .order_by("-created_at", "-id")
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
