"""The factory's shortcuts give what the slow paths give: signed links equal to the link modules'
own (its signer is a copy), merge values looked up equal to the template nodes' rendering."""

from __future__ import annotations

import pytest

from campaigns.messages import MessageFactory, Recipient, build_factory
from campaigns.services import save_campaign
from dialogue.links import MAIL, mail_links
from dialogue.links import read_token as read_mail_token
from subscribers.tokens import PREFERENCES, UNSUBSCRIBE, make_token, read_token

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("frozen_clock")  # both sides sign at the same second
@pytest.mark.parametrize("slugs", [(), ("news",), tuple(f"topic-{n:02d}" for n in range(40))])
def test_the_factorys_links_equal_the_link_modules_own(campaign, topic, slugs):
    # A long list of topics compresses: both branches of signing.dumps.
    factory = MessageFactory(
        compiled=build_factory(campaign).default.compiled,  # the default language's factory
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


FIELDS = """<mj-section><mj-column><mj-text>
Hallo {{ subscriber.name|default:"du & ihr" }} ({{ subscriber.email }}), {{ campaign.name }}.
<a href="{{ unsubscribe_url }}">ab</a> <a href="{{ web_url }}">web</a>
</mj-text></mj-column></mj-section>"""


@pytest.mark.parametrize("name", ["", "Ada", "<b>Tom & Jerry</b>", "O\"Neil's"])
@pytest.mark.parametrize("text_only", [False, True])
def test_merge_values_looked_up_equal_the_rendered_ones(topic, name, text_only):
    campaign = save_campaign(
        name="Werte", topics=[topic], subject="Für {{ subscriber.name }}", mjml_body=FIELDS, from_name="R"
    )
    factory = build_factory(campaign).for_language("de")
    assert factory._lookups is not None  # the usual campaign takes the shortcut
    recipient = Recipient(
        delivery_id=1,
        message_id="<m@x>",
        reply_token="0" * 32,
        subscriber_id=7,
        email="a&b@example.org",
        name=name,
        language="de",
        text_only=text_only,
    )
    variables = factory.variables(recipient)
    looked_up = factory._values(variables, text_only=text_only)
    assert looked_up == factory._bodies.values(variables, text_only=text_only)
    assert factory.build(recipient).raw  # and the mail builds from them


def test_a_field_with_another_filter_is_rendered_by_the_template(topic):
    body = FIELDS.replace('|default:"du & ihr"', "|upper")
    campaign = save_campaign(name="Filter", topics=[topic], subject="s", mjml_body=body, from_name="R")
    assert build_factory(campaign).default._lookups is None


@pytest.mark.parametrize(
    ("subject", "cached"),
    [
        ("Neues im Herbst", True),
        ("{% translate 'News' %} {{ campaign.name }}", True),
        ("Für {{ subscriber.name }}", False),
    ],
)
def test_headlines_without_recipient_data_are_rendered_once_per_language(topic, subject, cached):
    campaign = save_campaign(
        name="Kopf", topics=[topic], subject=subject, preheader="Kurz", mjml_body=FIELDS, from_name="R"
    )
    factory = build_factory(campaign).for_language("de")
    assert (factory._headlines is not None) is cached
    for name in ("Ada", "Bob"):
        recipient = Recipient(
            delivery_id=1,
            message_id="<m@x>",
            reply_token="0" * 32,
            subscriber_id=7,
            email="a@example.org",
            name=name,
            language="de",
            text_only=False,
        )
        variables = factory.variables(recipient)
        rendered = factory.compiled.headlines(
            {k: v for k, v in variables.items() if k not in ("subject", "preheader")}
        )
        assert (variables["subject"], variables["preheader"]) == (rendered["subject"], rendered["preheader"])
