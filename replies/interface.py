"""What the replies app offers the campaigns app: the only replies module campaigns imports.

campaigns shows a contact person's name in every mail, offers the people who answer replies
(assignable_staff) as contact persons, and counts a campaign's replies; it
does not read replies' models or services for that (an import-linter contract in pyproject.toml).
"""

from __future__ import annotations

from replies.selectors import CampaignReplies, assignable_staff, campaign_replies, staff_display_name

__all__ = ["CampaignReplies", "assignable_staff", "campaign_replies", "staff_display_name"]
