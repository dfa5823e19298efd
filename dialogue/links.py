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
from django.urls import reverse

SALT_PREFIX = "rundbrief.dialogue."
WEB_VIEW = "webview"
LETTER = "letter"
CONVERSATION = "conversation"
_PLACEHOLDER = "RUNDBRIEFTOKEN"


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


def make_token(purpose: str, subscriber_id: int, object_id: int) -> str:
    return signing.dumps({"s": subscriber_id, "o": object_id}, salt=SALT_PREFIX + purpose, compress=True)


def read_token(purpose: str, token: str) -> Link:
    salt = SALT_PREFIX + purpose
    try:
        data = signing.loads(token, salt=salt, max_age=max_age(purpose))
    except signing.SignatureExpired as exc:
        raise ExpiredLink(str(exc)) from exc
    except signing.BadSignature as exc:
        raise InvalidLink(str(exc)) from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(key), int) for key in ("s", "o")):
        raise InvalidLink("malformed payload")
    return Link(subscriber_id=data["s"], object_id=data["o"])


@lru_cache(maxsize=8)
def _around_token(name: str) -> tuple[str, str]:
    """The URL before and after the token, reversed once (one web view link per mail sent)."""
    before, after = reverse(name, args=[_PLACEHOLDER]).split(_PLACEHOLDER)
    return before, after


def _url(name: str, token: str) -> str:
    before, after = _around_token(name)
    return settings.SITE_URL + before + token + after


def web_view_url(subscriber_id: int, campaign_id: int) -> str:
    """The subscriber's own rendering of a campaign mail ("view in the browser"), read-only."""
    return _url("dialogue:web_view", make_token(WEB_VIEW, subscriber_id, campaign_id))


def letter_url(subscriber_id: int, letter_id: int) -> str:
    return _url("dialogue:letter", make_token(LETTER, subscriber_id, letter_id))


def letter_path(subscriber_id: int, letter_id: int) -> str:
    """The same page as letter_url, as a path (for a form on one of our own pages)."""
    before, after = _around_token("dialogue:letter")
    return before + make_token(LETTER, subscriber_id, letter_id) + after


def conversation_url(subscriber_id: int, conversation_id: int) -> str:
    return _url("dialogue:conversation", make_token(CONVERSATION, subscriber_id, conversation_id))
