"""What makes a test mail (and the preview) a test: who it is rendered as, and where its links go.

A test renders exactly as the chosen subscriber (or the sample subscriber) would get it: their
name, language and format. Only our own links differ: a test mail in the marketer's inbox must
not open a real subscriber's preference centre or unsubscribe them, and the sample has no
subscription at all. So the preference and unsubscribe links of tests and the preview open a
page saying "this was a test" (views.test_link), signed so nobody can make one for another
campaign. The preview uses the same links, so a test mail is the preview, word for word.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.utils.translation import gettext as _

from rundbrief.links import link_url
from subscribers.models import Subscriber

SALT = "rundbrief.campaigns.test-link"
PREFERENCES = "preferences"
UNSUBSCRIBE = "unsubscribe"
WEB_VIEW = "web"
TALK = "talk"
KINDS = (PREFERENCES, UNSUBSCRIBE, WEB_VIEW, TALK)


@dataclass(frozen=True)
class TestRecipient:
    """Whom a preview or a test is rendered as."""

    __test__ = False  # not a pytest test class

    subscriber_id: int  # 0: the sample
    name: str
    email: str
    language: str
    text_only: bool
    found: bool
    note: str = ""  # said when an address was given that is no subscriber


def sample(language: str, *, asked_for: str = "") -> TestRecipient:
    note = ""
    if asked_for:
        note = _("%(address)s is no subscriber: the preview shows the sample subscriber “%(sample)s”.") % {
            "address": asked_for,
            "sample": _("Alex Sample"),
        }
    return TestRecipient(
        subscriber_id=0,
        name=_("Alex Sample"),
        email="alex@example.org",
        language=language,
        text_only=False,
        found=False,
        note=note,
    )


def of_subscriber(subscriber: Subscriber) -> TestRecipient:
    return TestRecipient(
        subscriber_id=subscriber.pk,
        name=subscriber.name,
        email=subscriber.email,
        language=subscriber.language,
        text_only=subscriber.format == Subscriber.Format.TEXT,
        found=True,
    )


def link(campaign_id: int | None, kind: str) -> str:
    token = signing.dumps({"c": campaign_id or 0, "k": kind}, salt=SALT, compress=True)
    return link_url("campaigns:test_link", [token])


def links(campaign_id: int | None) -> dict[str, str]:
    """The footer's links in a test mail or the preview (the variables a real mail signs per recipient)."""
    return {
        "preferences_url": link(campaign_id, PREFERENCES),
        "unsubscribe_url": link(campaign_id, UNSUBSCRIBE),
        "web_url": link(campaign_id, WEB_VIEW),
        "talk_url": link(campaign_id, TALK),
    }


def read_link(token: str) -> tuple[int, str] | None:
    """(campaign id, kind) of a genuine test link, else None."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") not in KINDS or not isinstance(data.get("c"), int):
        return None
    return data["c"], data["k"]
