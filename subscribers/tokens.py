"""Signed tokens for the links in our mails: confirm, preference centre, unsubscribe.

No account and no stored secret per subscriber: a link is the subscriber id (and, for
unsubscribe, the topics it concerns) signed with SECRET_KEY and a per-purpose salt, so
a token made for one purpose never works for another. Confirmation links expire;
preference and unsubscribe links must keep working in old mails (Gmail and Yahoo
require a working unsubscribe), and die with the subscriber row on erasure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT_PREFIX = "rundbrief.subscribers."
CONFIRM = "confirm"
PREFERENCES = "preferences"
UNSUBSCRIBE = "unsubscribe"


class InvalidToken(Exception):
    """The link was altered, made for another purpose, or belongs to nobody."""


class ExpiredToken(InvalidToken):
    """The link was genuine but is too old (confirmation links only)."""


@dataclass(frozen=True)
class TokenPayload:
    subscriber_id: int
    topic_slugs: tuple[str, ...] = ()
    campaign_id: int | None = None


def make_token(
    purpose: str,
    subscriber_id: int,
    topic_slugs: tuple[str, ...] | list[str] = (),
    campaign_id: int | None = None,
) -> str:
    data: dict = {"s": subscriber_id}
    if topic_slugs:
        data["t"] = sorted(topic_slugs)
    if campaign_id is not None:
        data["c"] = campaign_id  # lets campaign stats count the unsubscribes a mail caused
    # TimestampSigner underneath: the timestamp is what makes confirmation links expire.
    return signing.dumps(data, salt=SALT_PREFIX + purpose, compress=True)


def read_token(purpose: str, token: str, max_age: timedelta | None = None) -> TokenPayload:
    try:
        data = signing.loads(token, salt=SALT_PREFIX + purpose, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise ExpiredToken(str(exc)) from exc
    except signing.BadSignature as exc:
        raise InvalidToken(str(exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("s"), int):
        raise InvalidToken("malformed payload")
    campaign_id = data.get("c")
    return TokenPayload(
        subscriber_id=data["s"],
        topic_slugs=tuple(data.get("t", ())),
        campaign_id=campaign_id if isinstance(campaign_id, int) else None,
    )


def read_confirm_token(token: str) -> TokenPayload:
    return read_token(CONFIRM, token, max_age=settings.CONFIRMATION_LINK_MAX_AGE)


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def confirm_url(subscriber_id: int, topic_slugs: tuple[str, ...] | list[str] = ()) -> str:
    return absolute(reverse("subscribers:confirm", args=[make_token(CONFIRM, subscriber_id, topic_slugs)]))


def preferences_url(subscriber_id: int) -> str:
    return absolute(reverse("subscribers:preferences", args=[make_token(PREFERENCES, subscriber_id)]))


def unsubscribe_url(
    subscriber_id: int, topic_slugs: tuple[str, ...] | list[str] = (), campaign_id: int | None = None
) -> str:
    """The per-recipient URL used in List-Unsubscribe (RFC 8058) and in every mail's footer.

    With topic slugs, the page offers to leave just those topics, or everything.
    """
    token = make_token(UNSUBSCRIBE, subscriber_id, topic_slugs, campaign_id)
    return absolute(reverse("subscribers:unsubscribe", args=[token]))
