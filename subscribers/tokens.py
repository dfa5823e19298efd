"""Signed tokens for the links in our mails: confirm, preference centre, unsubscribe, data.

No account and no stored secret per subscriber: a link is the subscriber id (and what the
link concerns) signed with SECRET_KEY and a per-purpose salt, so a token made for one
purpose never works for another. The signature carries its time, and each purpose has its
own lifetime:

- confirm: CONFIRMATION_LINK_MAX_AGE, and only for the opt-in request it was sent for
  (the `r` mark, see subscribers.services.confirm);
- preferences: PREFERENCES_LINK_MAX_AGE; an expired one can still ask for a new link by
  mail (its genuine signature shows which subscriber it was for);
- unsubscribe: never expires (RFC 8058, and Gmail's and Yahoo's bulk-sender rules, want the
  link in a years-old mail to work);
- erase and export: DATA_LINK_MAX_AGE, short: they are mailed fresh to the address on
  request, so a forwarded newsletter's links cannot erase or download anyone's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing

from rundbrief.links import link_url

SALT_PREFIX = "rundbrief.subscribers."
CONFIRM = "confirm"
PREFERENCES = "preferences"
UNSUBSCRIBE = "unsubscribe"
ERASE = "erase"
EXPORT = "export"
DATA_PURPOSES = (ERASE, EXPORT)  # the links mailed on request from the preference centre

# Where an unsubscribe link was shown: the page records the real source of the click.
VIA_PREFERENCE_CENTRE = "pc"


class InvalidToken(Exception):
    """The link was altered, made for another purpose, or belongs to nobody."""


class ExpiredToken(InvalidToken):
    """The link is genuine but too old; `payload` says whose it was (to offer a new one)."""

    def __init__(self, message: str, payload: TokenPayload):
        super().__init__(message)
        self.payload = payload


@dataclass(frozen=True)
class TokenPayload:
    subscriber_id: int
    topic_slugs: tuple[str, ...] = ()
    campaign_id: int | None = None
    # Confirm links: the newest opt-in request (microseconds since the epoch) the mail was for.
    request_mark: int | None = None
    via: str = ""
    issued_at: datetime | None = None


def max_age(purpose: str) -> timedelta | None:
    return {
        CONFIRM: settings.CONFIRMATION_LINK_MAX_AGE,
        PREFERENCES: settings.PREFERENCES_LINK_MAX_AGE,
        ERASE: settings.DATA_LINK_MAX_AGE,
        EXPORT: settings.DATA_LINK_MAX_AGE,
    }.get(purpose)


def make_token(
    purpose: str,
    subscriber_id: int,
    topic_slugs: tuple[str, ...] | list[str] = (),
    campaign_id: int | None = None,
    *,
    request_mark: int | None = None,
    via: str = "",
) -> str:
    data: dict = {"s": subscriber_id}
    if topic_slugs:
        data["t"] = sorted(topic_slugs)
    if campaign_id is not None:
        data["c"] = campaign_id  # lets campaign stats count the unsubscribes a mail caused
    if request_mark is not None:
        data["r"] = request_mark
    if via:
        data["v"] = via
    # TimestampSigner underneath: the timestamp is what makes links expire.
    return signing.dumps(data, salt=SALT_PREFIX + purpose, compress=True)


def _issued_at(token: str) -> datetime:
    # "payload:timestamp:signature" (django.core.signing); read only after the signature held.
    return datetime.fromtimestamp(signing.b62_decode(token.rsplit(":", 2)[1]), tz=UTC)


def _payload(data: object, token: str) -> TokenPayload:
    if not isinstance(data, dict) or not isinstance(data.get("s"), int):
        raise InvalidToken("malformed payload")
    campaign_id, mark, via = data.get("c"), data.get("r"), data.get("v")
    return TokenPayload(
        subscriber_id=data["s"],
        topic_slugs=tuple(data.get("t", ())),
        campaign_id=campaign_id if isinstance(campaign_id, int) else None,
        request_mark=mark if isinstance(mark, int) else None,
        via=via if isinstance(via, str) else "",
        issued_at=_issued_at(token),
    )


def read_token(purpose: str, token: str, *, check_age: bool = True) -> TokenPayload:
    """The payload of a genuine token for this purpose; ExpiredToken past the purpose's lifetime.

    check_age=False reads an expired token too: only to offer a new link by mail.
    """
    salt = SALT_PREFIX + purpose
    try:
        data = signing.loads(token, salt=salt)
    except signing.BadSignature as exc:
        raise InvalidToken(str(exc)) from exc
    payload = _payload(data, token)
    lifetime = max_age(purpose)
    if check_age and lifetime is not None:
        try:
            signing.loads(token, salt=salt, max_age=lifetime)
        except signing.SignatureExpired as exc:
            raise ExpiredToken(str(exc), payload) from exc
    return payload


def read_confirm_token(token: str) -> TokenPayload:
    return read_token(CONFIRM, token)


def confirm_url(
    subscriber_id: int, topic_slugs: tuple[str, ...] | list[str] = (), *, request_mark: int | None = None
) -> str:
    token = make_token(CONFIRM, subscriber_id, topic_slugs, request_mark=request_mark)
    return link_url("subscribers:confirm", [token])


def preferences_url(subscriber_id: int) -> str:
    return link_url("subscribers:preferences", [make_token(PREFERENCES, subscriber_id)])


def unsubscribe_url(
    subscriber_id: int,
    topic_slugs: tuple[str, ...] | list[str] = (),
    campaign_id: int | None = None,
    *,
    via: str = "",
) -> str:
    """The per-recipient URL used in List-Unsubscribe (RFC 8058) and in every mail's footer.

    With topic slugs, the page offers to leave just those topics, or everything.
    """
    token = make_token(UNSUBSCRIBE, subscriber_id, topic_slugs, campaign_id, via=via)
    return link_url("subscribers:unsubscribe", [token])


def erase_url(subscriber_id: int) -> str:
    return link_url("subscribers:erase", [make_token(ERASE, subscriber_id)])


def export_url(subscriber_id: int) -> str:
    return link_url("subscribers:export", [make_token(EXPORT, subscriber_id)])
