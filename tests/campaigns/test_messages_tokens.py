"""The factory's signed links are the ones the link modules make and read (its signer is a copy)."""

from __future__ import annotations

import pytest

from campaigns.messages import MessageFactory, Recipient, build_factory
from dialogue.links import MAIL, mail_links
from dialogue.links import read_token as read_mail_token
from subscribers.tokens import PREFERENCES, UNSUBSCRIBE, make_token, read_token

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("frozen_clock")  # both sides sign at the same second
@pytest.mark.parametrize("slugs", [(), ("news",), tuple(f"topic-{n:02d}" for n in range(40))])
def test_the_factorys_links_equal_the_link_modules_own(campaign, topic, slugs):
    # A long list of topics compresses: both branches of signing.dumps.
    factory = MessageFactory(
        compiled=build_factory(campaign).compiled,
        campaign_id=campaign.pk,
        subject=campaign.subject,
        from_name=campaign.from_name,
        list_name="News",
        list_slug="news",
        topic_slugs=slugs,
    )
    recipient = Recipient(
        delivery_id=1,
        message_id="<m@x>",
        reply_token="0" * 32,
        subscriber_id=4711,
        email="a@example.org",
        name="A",
        language="de",
        text_only=False,
    )
    variables = factory.variables(recipient)
    preferences = variables["preferences_url"].rstrip("/").rsplit("/", 1)[-1]
    unsubscribe = variables["unsubscribe_url"].rstrip("/").rsplit("/", 1)[-1]
    assert preferences == make_token(PREFERENCES, 4711)
    assert unsubscribe == make_token(UNSUBSCRIBE, 4711, slugs, campaign.pk)
    assert read_token(UNSUBSCRIBE, unsubscribe).topic_slugs == tuple(sorted(slugs))
    links = mail_links(4711, campaign.pk)
    assert variables["web_url"] == links["web_url"] and variables["talk_url"] == links["talk_url"]
    token = links["web_url"].rstrip("/").rsplit("/", 1)[-1]
    assert read_mail_token(MAIL, token).object_id == campaign.pk
