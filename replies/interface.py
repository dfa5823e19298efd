"""What the replies app offers the campaigns app: the only replies module campaigns imports.

campaigns shows a contact person's name in every mail and counts a campaign's replies; it
does not read replies' models or services for that (an import-linter contract in pyproject.toml).
"""

from __future__ import annotations

from replies.selectors import CampaignReplies, campaign_replies, staff_display_name

__all__ = ["CampaignReplies", "campaign_replies", "staff_display_name"]
