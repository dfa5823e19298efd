"""Template tags for the includes other apps' pages carry (campaign detail, conversation,
preference centre): each include loads what it shows, so those views stay unchanged."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from dialogue import links, selectors
from dialogue.forms import ProposeLetterForm
from dialogue.letters import letters_in
from dialogue.webview import public_subject

register = template.Library()


@register.filter
def subject_in_language(campaign) -> str:
    """The campaign's subject line in the reader's version (the active language), else the default's."""
    return public_subject(campaign, language=translation.get_language())


@register.simple_tag
def archive_state(campaign) -> dict:
    """Whether a campaign is on the public archive, and where."""
    topic = selectors.public_topic_of(campaign)
    return {
        "sent": campaign.status == "sent",
        "public_topic": topic,
        "on_archive": selectors.is_on_archive(campaign),
    }


@register.simple_tag
def conversation_tools(conversation) -> dict:
    """What the conversation page's dialogue box shows: letters, call-back requests, the letter form."""
    replies = selectors.subscriber_replies(conversation)
    topic = selectors.public_topic_of(conversation.campaign) if conversation.campaign_id else None
    last = replies[-1] if replies else None
    form = ProposeLetterForm(
        messages=replies,
        initial={
            "message": last.pk if last else None,
            "text": (last.stripped_text or last.text).strip() if last else "",
            "topic": topic.pk if topic else None,
        },
    )
    return {
        "letters": selectors.letters_of_conversation(conversation.pk),
        "callbacks": selectors.callbacks_of_conversation(conversation.pk),
        "can_propose": bool(replies) and conversation.subscriber_id is not None,
        "retention_days": settings.CALLBACK_RETENTION_DAYS,
        "wish": selectors.wish_of(conversation),
        "issue_letters": letters_in(conversation.campaign.mjml_body, until=conversation.campaign.started_at)
        if conversation.campaign_id
        else [],
        "overrides": selectors.overrides_of(conversation.pk),
        "form": form,
    }


@register.simple_tag
def my_dialogue(subscriber) -> dict:
    """The preference centre's part: the subscriber's reader letters, each with its own page."""
    return {
        "letters": [
            {"letter": letter, "url": links.letter_path(subscriber.pk, letter.pk)}
            for letter in selectors.letters_of_subscriber(subscriber)
        ],
        "conversations": [
            {"conversation": conversation, "url": links.conversation_path(subscriber.pk, conversation.pk)}
            for conversation in selectors.conversations_of_subscriber(subscriber)
        ],
    }


@register.simple_tag
def restricted_count(user) -> int:
    """For a manager's inbox: how many conversations are kept for their contact person."""
    if not user.has_perm("replies.view_all_conversations"):
        return 0
    return selectors.restricted_for(user).count()


@register.filter
def duration_words(value) -> str:
    """A response time in words: "45 min", "3 h 10 min", "2 d 4 h"."""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("%(d)d d %(h)d h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    return _("%(m)d min") % {"m": minutes}
