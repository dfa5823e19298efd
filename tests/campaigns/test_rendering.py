"""Rendering: the footer cannot be removed, errors carry lines, text part, ESP transport."""

from __future__ import annotations

import pytest
from django.core import mail

from campaigns.rendering import CampaignRenderError, compile_campaign

VARS = {
    "subscriber": {"name": "<Eva>", "email": "e@x"},
    "unsubscribe_url": "https://u/1",
    "preferences_url": "https://p/1",
}


def test_footer_and_escaping():
    compiled = compile_campaign(
        mjml_body="<mj-section><mj-column><mj-text>Hi {{ subscriber.name }}</mj-text>"
        "</mj-column></mj-section>",
        contact_name="Anna",
    )
    rendered = compiled.render(VARS, language="en")
    assert "Hi &lt;Eva&gt;" in rendered.html
    assert "Hi <Eva>" in rendered.text  # the text part is not HTML-escaped
    for part in (rendered.html, rendered.text):
        assert "https://u/1" in part and "https://p/1" in part and "Anna will answer you personally" in part


def test_footer_is_in_german_for_german_subscribers():
    compiled = compile_campaign(mjml_body="<mj-section></mj-section>", contact_name="Anna")
    assert compiled.render(VARS, language="de").text  # renders; wording comes from the locale files


def test_an_unclosed_block_cannot_swallow_the_footer():
    with pytest.raises(CampaignRenderError) as caught:
        compile_campaign(
            mjml_body="<mj-section><mj-column><mj-text>{% comment %}</mj-text></mj-column></mj-section>"
        )
    assert caught.value.problems[0].part == "template"


def test_errors_that_only_show_when_rendering_are_caught_at_compile_time():
    with pytest.raises(CampaignRenderError) as caught:
        compile_campaign(
            mjml_body='<mj-section><mj-column><mj-text>{% include "x.html" %}</mj-text>'
            "</mj-column></mj-section>"
        )
    assert caught.value.problems[0].part == "template"


def test_whole_document_keeps_line_numbers():
    source = (
        "<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n<mj-txt>x</mj-txt>\n"
        "</mj-column>\n</mj-section>\n</mj-body>\n</mjml>"
    )
    with pytest.raises(CampaignRenderError) as caught:
        compile_campaign(mjml_body=source)
    assert (caught.value.problems[0].line, caught.value.problems[0].message) == (
        5,
        "Unknown MJML element <mj-txt>.",
    )


def test_handwritten_text_part_is_used_and_checked():
    compiled = compile_campaign(
        mjml_body="<mj-section></mj-section>", text_body="Hallo {{ subscriber.name }}"
    )
    assert compiled.render(VARS).text.startswith("Hallo <Eva>")
    with pytest.raises(CampaignRenderError) as caught:
        compile_campaign(mjml_body="<mj-section></mj-section>", text_body="a\n{% if %}")
    assert (caught.value.problems[0].part, caught.value.problems[0].line) == ("text", 2)


@pytest.mark.django_db(transaction=True)
def test_esp_backend_gets_per_recipient_headers(campaign, topic, settings):
    from campaigns import services
    from campaigns.models import Delivery

    from .conftest import make_subscriber

    settings.EMAIL_DELIVERY = "esp"
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    make_subscriber("eva@example.org", topic)
    mail.outbox = []
    services.launch_campaign(campaign=campaign)
    (message,) = mail.outbox
    delivery = Delivery.objects.get()
    assert message.extra_headers["Message-ID"] == delivery.message_id
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert delivery.status == Delivery.Status.SENT and delivery.esp_message_id == "0"


def test_generated_text_part_is_plain_text_with_the_links_written_out():
    body = (
        "<mj-section><mj-column><mj-text><h1>Winter news</h1><p><b>Hello</b> {{ subscriber.name }}, read the "
        '<a href="https://example.org/winter">winter issue</a> or <a href="https://example.org/x">'
        "https://example.org/x</a>.</p></mj-text>"
        '<mj-button href="https://example.org/read">Read the winter issue</mj-button>'
        '<mj-image src="https://example.org/i.png" alt="Our shop" href="https://example.org/shop"/>'
        "</mj-column><mj-column><mj-text>Second column</mj-text></mj-column></mj-section>"
    )
    text = (
        compile_campaign(mjml_body=body, contact_name="Anna")
        .render(
            {"subscriber": {"name": "Eva", "email": "e@x"}, "preferences_url": "p", "unsubscribe_url": "u"}
        )
        .text
    )
    assert text.startswith(
        "Winter news\n\nHello Eva, read the winter issue (https://example.org/winter) or https://example.org/x.\n\n"
        "Read the winter issue: https://example.org/read\nOur shop: https://example.org/shop\nSecond column\n"
    )
    assert "](" not in text and "**" not in text and "#" not in text
