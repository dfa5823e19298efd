"""What the replies app offers the campaigns app: the only replies module campaigns imports.

campaigns shows a contact person's name in every mail, offers the people who answer replies
(assignable_staff) as contact persons, and counts a campaign's replies (also over time); it
does not read replies' models or services for that (an import-linter contract in pyproject.toml).

The dialogue app uses this module too (its own contract): it reads the conversations a staff
member may see, a conversation's thread and the staff tags on a campaign's conversations
(campaign_tag_counts), and a reply written in the browser enters the same inbound pipeline as
a mail (store_web_reply).
"""

from __future__ import annotations

from replies.models import Attachment, Conversation, InboundMessage, Message
from replies.selectors import (
    CampaignReplies,
    TagCount,
    assignable_staff,
    campaign_repliers_by_language,
    campaign_replies,
    campaign_replies_over_time,
    campaign_tag_counts,
    staff_display_name,
    visible_conversations,
)
from replies.services import store_inbound


def store_web_reply(raw: bytes) -> InboundMessage:
    """A subscriber's reply from the browser, as a message for the inbound pipeline (stored, then
    processed like a mail: threaded by its reply token, routed the same way)."""
    return store_inbound(raw, source=InboundMessage.Source.WEB)


__all__ = [
    "Attachment",
    "CampaignReplies",
    "TagCount",
    "Conversation",
    "InboundMessage",
    "Message",
    "assignable_staff",
    "campaign_repliers_by_language",
    "campaign_replies",
    "campaign_replies_over_time",
    "campaign_tag_counts",
    "staff_display_name",
    "store_web_reply",
    "visible_conversations",
]
