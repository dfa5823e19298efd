"""Signed links of the dialogue pages: the subscriber's own web view of a mail, a reader letter's
consent page, and a conversation's page in the browser.

Like subscribers.tokens: no account and no stored secret, the ids signed with SECRET_KEY and a
salt per purpose (a token for one purpose never works for another), and a lifetime per purpose.
This module imports no app (campaigns.messages puts the web view link into every mail).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.utils import translation
from django.utils.translation import gettext as _

from rundbrief.links import path_around_token

SALT_PREFIX = "rundbrief.dialogue."
# The recipient's own pages about one campaign mail (the web view, and writing to us about it in
# the browser) share one link value, so a mail carries one more signature, not two.
MAIL = "mail"
WEB_VIEW = MAIL
LETTER = "letter"
CONVERSATION = "conversation"


class InvalidLink(Exception):
    """Altered, made for another purpose, or malformed."""


class ExpiredLink(InvalidLink):
    """Genuine but older than its purpose allows."""


@dataclass(frozen=True)
class Link:
    subscriber_id: int
    object_id: int


def max_age(purpose: str) -> timedelta:
    """The web view shows the mail with its preference link, so it lives as long as that link; the
    letter and conversation pages are mailed again with every answer, and live as long too."""
    return settings.PREFERENCES_LINK_MAX_AGE


@lru_cache(maxsize=16)
def _signer(purpose: str, secret: str) -> signing.TimestampSigner:
    """One signer per purpose (and key), made once: a link is signed for every mail sent, and a
    reused signer with a compact value costs a quarter of signing.dumps (about 30 µs, not 100)."""
    return signing.TimestampSigner(salt=SALT_PREFIX + purpose)


def make_token(purpose: str, subscriber_id: int, object_id: int) -> str:
    return _signer(purpose, settings.SECRET_KEY).sign(f"{subscriber_id}.{object_id}")


def read_token(purpose: str, token: str) -> Link:
    signer = _signer(purpose, settings.SECRET_KEY)
    try:
        value = signer.unsign(token, max_age=max_age(purpose))
    except signing.SignatureExpired as exc:
        raise ExpiredLink(str(exc)) from exc
    except signing.BadSignature as exc:
        raise InvalidLink(str(exc)) from exc
    subscriber, _dot, obj = value.partition(".")
    if not (subscriber.isdigit() and obj.isdigit()):
        raise InvalidLink("malformed payload")
    return Link(subscriber_id=int(subscriber), object_id=int(obj))


def _url(name: str, token: str) -> str:
    before, after = path_around_token(name)
    return settings.SITE_URL + before + token + after


def web_view_url(subscriber_id: int, campaign_id: int) -> str:
    """The subscriber's own rendering of a campaign mail ("view in the browser"), read-only."""
    return _url("dialogue:web_view", make_token(WEB_VIEW, subscriber_id, campaign_id))


def mail_links(subscriber_id: int, campaign_id: int) -> dict[str, str]:
    """The per-recipient links of a campaign mail's footer, from one signature: the web view, and
    the page to write to us about the mail in the browser or ask for a call back."""
    token = make_token(MAIL, subscriber_id, campaign_id)
    return {"web_url": _url("dialogue:web_view", token), "talk_url": _url("dialogue:about_mail", token)}


def answer_links_text(conversation) -> str:
    """The lines under a staff answer (in the subscriber's language): continue in the browser or
    ask for a call back, on the conversation's own signed page. Empty without a known subscriber."""
    subscriber = conversation.subscriber if conversation.subscriber_id else None
    if subscriber is None:
        return ""
    url = _url("dialogue:conversation", make_token(CONVERSATION, subscriber.pk, conversation.pk))
    with translation.override(subscriber.language):
        return "\n\n" + _("Continue in the browser or ask for a call back: %(url)s") % {"url": url}


def letter_url(subscriber_id: int, letter_id: int) -> str:
    return _url("dialogue:letter", make_token(LETTER, subscriber_id, letter_id))


def letter_path(subscriber_id: int, letter_id: int) -> str:
    """The same page as letter_url, as a path (for a form on one of our own pages)."""
    before, after = path_around_token("dialogue:letter")
    return before + make_token(LETTER, subscriber_id, letter_id) + after


def conversation_path(subscriber_id: int, conversation_id: int) -> str:
    before, after = path_around_token("dialogue:conversation")
    return before + make_token(CONVERSATION, subscriber_id, conversation_id) + after


def conversation_url(subscriber_id: int, conversation_id: int) -> str:
    return _url("dialogue:conversation", make_token(CONVERSATION, subscriber_id, conversation_id))
