"""A campaign mail as a web page: for anyone (the archive) and for its own recipient (the web view).

The archive's version is rendered for an anonymous reader: the recipient's name and address are
empty, every signed link (preferences, unsubscribe, web view) is empty, and the footer, which is
about the recipient's own subscription, is cut off. The web view is the recipient's own mail,
rendered exactly as it was sent (campaigns.messages), with its working links.
"""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from campaigns.messages import Recipient, contact_name, factory_for
from campaigns.models import Campaign, Delivery
from campaigns.rendering import RenderedMail, compile_campaign
from campaigns.versions import content_for

FOOTER_SELECTOR = "[data-rundbrief-footer]"
TEXT_FOOTER_MARK = "\n-- \n"  # templates/emails/campaign_footer.txt begins with the signature mark
ANONYMOUS_READER = {
    "subscriber": {"name": "", "email": ""},
    "preferences_url": "",
    "unsubscribe_url": "",
    "web_url": "",
}


@dataclass(frozen=True)
class PublicIssue:
    html: str
    text: str
    subject: str  # rendered for the anonymous reader, in the version's language


def public_subject(campaign: Campaign, *, language: str) -> str:
    """The issue's subject line as written in the reader's version (archive lists, feed titles)."""
    return content_for(campaign, language).subject


def _without_footer(html: str) -> str:
    tree = LexborHTMLParser(html)
    for node in tree.css(FOOTER_SELECTOR):
        node.decompose()
    return tree.html or ""


def public_issue(campaign: Campaign, *, language: str) -> PublicIssue:
    """The issue as the archive shows it: no personal data, no tokens, no footer."""
    # The version in the reader's language, else the default one (campaigns.versions).
    compiled = compile_campaign(
        **content_for(campaign, language).fields(),
        contact_name=contact_name(campaign),
        campaign_name=campaign.name,
        letters_until=campaign.started_at,
    )
    rendered = compiled.render(ANONYMOUS_READER, language=language)
    text = rendered.text.rsplit(TEXT_FOOTER_MARK, 1)[0].strip() + "\n"
    return PublicIssue(html=_without_footer(rendered.html), text=text, subject=rendered.subject)


def own_mail(delivery: Delivery) -> RenderedMail:
    """The recipient's own rendering of their mail (the subscriber row is loaded with it)."""
    subscriber = delivery.subscriber
    factory = factory_for(delivery.campaign)
    recipient = Recipient(
        delivery_id=delivery.pk,
        message_id=delivery.message_id,
        reply_token=delivery.reply_token,
        subscriber_id=subscriber.pk,
        email=subscriber.email,
        name=subscriber.name,
        language=subscriber.language,
        text_only=False,
        variant=delivery.variant,  # an A/B test's: the variant this mail was sent with
    )
    return factory.render(recipient, factory.variables(recipient))
