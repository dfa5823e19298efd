"""Static analysis for ESP batches: a batch body with each recipient's merge values put back
is byte for byte that recipient's own render; templates merge fields cannot express are refused."""

from __future__ import annotations

import pytest
from django.utils import translation

from campaigns.merge import PER_RECIPIENT, join_parts, split_campaign
from campaigns.messages import MessageFactory, Recipient
from campaigns.rendering import CampaignRenderError, compile_campaign
from campaigns.sending.esp_syntax import BATCH_ESPS

BATCHABLE = [
    # The editor's example: a default filter with a literal, campaign data, the footer.
    '<mj-section><mj-column><mj-text>Hallo {{ subscriber.name|default:"du" }}, das ist {{ campaign.name }}.'
    "</mj-text></mj-column></mj-section>",
    # Recipient data in attributes, filters with recipient-only arguments, i18n tags and
    # campaign-only logic around them.
    '<mj-section><mj-column><mj-button href="{{ preferences_url }}">{% translate "Settings" %}</mj-button>'
    "<mj-text>{{ subscriber.name|upper }} / {{ subscriber.email|urlize }} / "
    "{{ subscriber.name|default:subscriber.email }} "
    "{% if campaign.name %}<b>{{ contact.name }}</b>{% endif %}"
    "{% for c in 'ab' %}{{ c }}{% endfor %} {{ subject|title }}</mj-text></mj-column></mj-section>",
]

NOT_BATCHABLE = [
    "{% if subscriber.name %}Hallo {{ subscriber.name }}{% endif %}",
    "{% with n=subscriber.name %}{{ n }}{% endwith %}",
    "{% blocktranslate with n=subscriber.name %}Hi {{ n }}{% endblocktranslate %}",
    "{{ subscriber.name|default:contact.name }}",  # recipient and campaign data in one field
    "{% translate 'x' as subscriber %}{{ subscriber }}",
]
# Refused in the HTML part (campaigns/footer_guard.py: a subscriber's data must not reach the
# mail unescaped); allowed in the text part, where nothing is escaped anyway.
UNESCAPED = "{% autoescape off %}{{ subscriber.name }}{% endautoescape %}"

NAMES = ["", "A & B <ab@example.org> \"Zitat\" 'x'", "Jürgen Ölßner 😀", "<script>alert(1)</script>"]


def _wrap(body: str) -> str:
    return f"<mj-section><mj-column><mj-text>{body}</mj-text></mj-column></mj-section>"


def _factory(compiled) -> MessageFactory:
    return MessageFactory(
        compiled=compiled,
        campaign_id=7,
        subject="Neues & mehr",
        from_name="Rundbrief",
        list_name="News",
        list_slug="news",
        topic_slugs=("news",),
    )


def _recipient(n: int, name: str, *, language: str, text_only: bool = False) -> Recipient:
    return Recipient(
        delivery_id=n,
        message_id=f"<m{n}@x>",
        reply_token=f"t{n}",
        subscriber_id=n,
        email=f"r{n}+tag&x@example.org",
        name=name,
        language=language,
        text_only=text_only,
    )


@pytest.mark.parametrize("body", BATCHABLE)
@pytest.mark.parametrize("esp", sorted(BATCH_ESPS))
def test_batch_body_with_values_put_back_is_each_recipients_render(body, esp):
    syntax = BATCH_ESPS[esp]
    compiled = compile_campaign(
        mjml_body=body, subject="Neues & mehr", contact_name="Anna & <Co>", campaign_name="Herbst"
    )
    factory = _factory(compiled)
    bodies = split_campaign(compiled)
    assert bodies is not None
    for language in ("de", "en"):
        with translation.override(language):
            html_parts, text_parts = bodies.parts()
            html_batch = join_parts(html_parts, syntax.marker)
            text_batch = join_parts(text_parts, syntax.marker)
            for n, name in enumerate(NAMES):
                for text_only in (False, True):
                    recipient = _recipient(n, name, language=language, text_only=text_only)
                    variables = factory.variables(recipient)
                    expected = compiled.render(variables, language=language, text_only=text_only)
                    values = bodies.values(variables, text_only=text_only)

                    def esp_merges(batch: str, values=values) -> str:  # what the ESP does
                        for key, value in values.items():
                            batch = batch.replace(syntax.marker(key), value)
                        return batch

                    assert esp_merges(text_batch) == expected.text
                    if not text_only:
                        assert esp_merges(html_batch) == expected.html
                        assert esp_merges(html_batch).encode() == expected.html.encode()


@pytest.mark.parametrize("body", BATCHABLE + [_wrap(body) for body in NOT_BATCHABLE])
def test_factory_renders_each_recipient_exactly_as_a_full_render(body):
    """The send path renders static text once per language and only the values per recipient."""
    compiled = compile_campaign(
        mjml_body=body, subject="Neues & mehr", contact_name="Anna & <Co>", campaign_name="Herbst"
    )
    factory = _factory(compiled)
    for language in ("de", "en"):
        for n, name in enumerate(NAMES):
            for text_only in (False, True):
                recipient = _recipient(n, name, language=language, text_only=text_only)
                variables = factory.variables(recipient)
                expected = compiled.render(variables, language=language, text_only=text_only)
                assert factory.render(recipient, variables) == expected


def test_escaping_differs_per_part_so_the_keys_do():
    compiled = compile_campaign(mjml_body=_wrap("{{ subscriber.name }}"), text_body="{{ subscriber.name }}")
    bodies = split_campaign(compiled)
    values = bodies.values(
        {"subscriber": {"name": "A & B", "email": "a@x"}, "preferences_url": "p", "unsubscribe_url": "u"}
    )
    assert {"A &amp; B", "A & B"} <= set(values.values())


@pytest.mark.parametrize("body", NOT_BATCHABLE)
def test_recipient_data_inside_tags_is_not_batchable(body):
    assert split_campaign(compile_campaign(mjml_body=_wrap(body))) is None
    assert split_campaign(compile_campaign(mjml_body=_wrap("x"), text_body=body)) is None


def test_unescaped_recipient_data_is_refused_in_html_and_rendered_exactly_in_text():
    with pytest.raises(CampaignRenderError):
        compile_campaign(mjml_body=_wrap(UNESCAPED))
    compiled = compile_campaign(mjml_body=_wrap("x"), text_body=UNESCAPED, contact_name="Anna & <Co>")
    assert split_campaign(compiled) is None
    factory = _factory(compiled)
    for language in ("de", "en"):
        for n, name in enumerate(NAMES):
            for text_only in (False, True):
                recipient = _recipient(n, name, language=language, text_only=text_only)
                variables = factory.variables(recipient)
                expected = compiled.render(variables, language=language, text_only=text_only)
                assert factory.render(recipient, variables) == expected


def test_per_recipient_names_are_what_the_factory_puts_in_the_context():
    factory = _factory(compile_campaign(mjml_body=_wrap("x")))
    assert set(factory.variables(_recipient(1, "Eva", language="de"))) == PER_RECIPIENT
