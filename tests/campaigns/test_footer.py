"""The footer cannot be removed or hidden by the campaign (issue #10).

Before: ``<mj-style>.rundbrief-footer {display:none}</mj-style>`` hid the footer with the
unsubscribe link and the contact person. Now campaign CSS reaches only the campaign's content,
which is clipped to its own box, and markup that could escape it is refused
(campaigns/footer_guard.py). Proven in Chromium: hostile CSS that is accepted leaves the footer
visible and on top (tests/journeys/test_campaign_footer.py); what could break out is refused
with a line number.
"""

from __future__ import annotations

import pytest
import tinycss2

from campaigns.rendering import CampaignRenderError, compile_campaign

VARS = {
    "subscriber": {"name": "Eva", "email": "eva@example.org"},
    "unsubscribe_url": "https://example.org/unsubscribe/eva/",
    "preferences_url": "https://example.org/preferences/eva/",
}
CONTENT = """<mj-section>
  <mj-column>
    <mj-text css-class="intro">Hallo {{ subscriber.name }}, viel Text. <a href="https://example.org">Link</a></mj-text>
    <mj-image src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="100px" />
  </mj-column>
</mj-section>"""


def campaign(css: str = "", body: str = CONTENT) -> str:
    return f"<mjml><mj-head><mj-style>{css}</mj-style></mj-head><mj-body>{body}</mj-body></mjml>"


def problems(source: str) -> list[tuple[int | None, str]]:
    with pytest.raises(CampaignRenderError) as caught:
        compile_campaign(mjml_body=source, contact_name="Anna")
    return [(problem.line, problem.message) for problem in caught.value.problems]


# CSS that any of the old approaches (a list of forbidden values, or rules "targeting the
# footer") would miss, and that hid or covered the footer before. All of it is accepted now,
# and none of it reaches the footer.
HOSTILE_CSS = {
    "footer class": ".rundbrief-footer { display: none !important }",
    "everything": "* { display: none !important }",
    "every div and table": "div, table, td, p, a { visibility: hidden !important; font-size: 0 !important }",
    "colour of the background": "p, a { color: #f6f7f9 !important }",
    "white sheet over the page": ".intro { position: fixed !important; top: 0; left: 0; width: 100vw; "
    "height: 100vh; background: #fff; z-index: 2147483647 }",
    "absolute box below": "div { position: absolute !important; top: 0; left: 0; height: 5000px; width: 100%;"
    " background: #fff; z-index: 99999 }",
    "giant shadow": "td { box-shadow: 0 0 0 4000px #fff !important }",
    "negative margin": "table { margin-bottom: -3000px !important }",
    "transform": "div { transform: translateY(400px) scale(4) }",
    "media query": "@media screen { * { opacity: 0 !important } }",
    "attribute selectors": "[data-rundbrief-footer], [style] { display: none !important }",
}


def head_selectors(html: str) -> set[str]:
    """Every selector of every rule in the mail's <style> elements (inside @media too)."""
    from selectolax.lexbor import LexborHTMLParser

    def walk(rules) -> set[str]:
        found = set()
        for rule in rules:
            if rule.type == "qualified-rule":
                found |= {part.strip() for part in tinycss2.serialize(rule.prelude).split(",")}
            elif rule.type == "at-rule" and rule.content is not None:
                found |= walk(
                    tinycss2.parse_rule_list(rule.content, skip_comments=True, skip_whitespace=True)
                )
        return found

    styles = LexborHTMLParser(html).css("style")
    return set().union(*(walk(tinycss2.parse_stylesheet(node.text(), skip_comments=True)) for node in styles))


@pytest.mark.parametrize("css", HOSTILE_CSS.values(), ids=HOSTILE_CSS.keys())
def test_hostile_css_compiles_but_every_rule_is_confined_to_the_content(css):
    baseline = head_selectors(compile_campaign(mjml_body=campaign(), contact_name="A").render(VARS).html)
    html = compile_campaign(mjml_body=campaign(css), contact_name="Anna").render(VARS).html
    added = head_selectors(html) - baseline
    assert added and all(selector.startswith(".rundbrief-content ") for selector in added), added


def test_markup_that_could_escape_the_content_is_refused_with_its_line():
    found = problems(
        campaign(
            body="<mj-section>\n<mj-column>\n<mj-text><style>* {display:none}</style></mj-text>\n"
            "<mj-text><body hidden></body><textarea></textarea><svg><style>*{}</style></svg></mj-text>\n"
            "</mj-column>\n</mj-section>"
        )
    )
    messages = "\n".join(message for _line, message in found)
    for tag in ("style", "body", "textarea", "svg"):
        assert f"<{tag}> cannot be used in a campaign" in messages
    assert (3, "<style> cannot be used in a campaign: it could change or hide the rest of the mail.") in found
    assert (4, "<body> cannot be used in a campaign: it could change or hide the rest of the mail.") in found


def test_a_branch_that_leaves_an_element_open_is_refused():
    """`{% if %}<div>{% endif %}…</div>`: balanced as text, but a stray </div> for some recipients."""
    body = (
        "<mj-section><mj-column><mj-text>\n"
        '{% if subscriber.name == "Eva" %}<div>{% endif %}\nText</div>\n'
        "</mj-text></mj-column></mj-section>"
    )
    assert problems(campaign(body=body)) == [
        (
            2,
            "Each branch of the {% if %} from line 2 must close the HTML elements it opens "
            "(and close none it did not open).",
        )
    ]
    fine = (
        "<mj-section><mj-column><mj-text>{% if subscriber.name %}<b>Hi</b>{% else %}<i>Hallo</i>{% endif %}"
    )
    fine += "{% for x in 'ab' %}<span>{{ x }}</span>{% endfor %}</mj-text></mj-column></mj-section>"
    assert "<b>Hi</b>" in compile_campaign(mjml_body=fine, contact_name="A").render(VARS).html


def test_unescaped_output_is_refused():
    body = (
        "<mj-section><mj-column><mj-text>{{ subscriber.name|safe }}\n"
        "{% autoescape off %}x{% endautoescape %}\n"
        '{{ "<style>" }}\n{% filter cut:" " %}<sty le>{% endfilter %}\n{% firstof "</div>" %}'
        "</mj-text></mj-column></mj-section>"
    )
    found = problems(campaign(body=body))
    assert (1, "|safe cannot be used in a campaign: every value is escaped.") in found
    assert (2, "{% autoescape off %} cannot be used in a campaign.") in found
    assert (3, "“<” cannot be used inside {{ … }} (it would not be escaped).") in found
    assert (4, "{% filter %} cannot be used in a campaign; filter the values instead.") in found
    assert (5, "“<” cannot be used inside {% … %} (it would not be escaped).") in found


def test_css_that_could_never_apply_or_comes_from_elsewhere_is_refused():
    source = (
        "<mjml><mj-head>\n<mj-style>\nbody { background: red }\n@import url(https://evil.example/x.css);\n"
        ".x { color: red }\n.y { & .z { color: blue } }\n"
        ".q { content: '</style><body hidden>' }\n</mj-style>\n"
        "</mj-head><mj-body>" + CONTENT + "</mj-body></mjml>"
    )
    found = problems(source)
    assert (7, "“<” cannot be used in <mj-style> (it could end the style element).") in found
    ok = source.replace(".q { content: '</style><body hidden>' }\n", "")
    found = problems(ok)
    messages = [message for _line, message in found]
    assert any(message.startswith("CSS for “body” cannot apply") for message in messages)
    assert (4, "@import cannot be used in a campaign's CSS.") in found
    assert (6, "Nested CSS rules cannot be used in mails.") in found


def test_the_head_takes_only_what_cannot_bring_outside_css():
    source = (
        "<mjml><mj-head>\n<mj-raw><style>*{}</style></mj-raw>\n"
        '<mj-html-attributes><mj-selector path="body"><mj-html-attribute name="hidden">x'
        "</mj-html-attribute></mj-selector></mj-html-attributes>\n"
        '<mj-font name="Evil" href="https://evil.example/font.css" />\n'
        '<mj-font name="Inter" href="https://fonts.bunny.net/css?family=inter" />\n'
        '<mj-attributes><mj-all font-family="Inter" /><mj-text color="#333" /></mj-attributes>\n'
        "</mj-head><mj-body>" + CONTENT + "</mj-body></mjml>"
    )
    found = problems(source)
    assert (2, "<mj-raw> cannot be used in <mj-head> of a campaign.") in found
    assert (3, "<mj-html-attributes> cannot be used in <mj-head> of a campaign.") in found
    assert any(line == 4 and message.startswith("Web fonts can only come from") for line, message in found)
    assert not any(line in (5, 6) for line, _message in found)


def test_the_rendered_footer_is_the_last_part_of_the_body():
    from selectolax.lexbor import LexborHTMLParser

    html = (
        compile_campaign(mjml_body=campaign(".intro { color: red }"), contact_name="Anna").render(VARS).html
    )
    body = LexborHTMLParser(html).body
    children = [node for node in body.iter(include_text=False) if not node.tag.startswith("-")]
    assert [
        ("data-rundbrief-clip" in c.attributes, "data-rundbrief-footer" in c.attributes) for c in children
    ] == [
        (True, False),
        (False, True),
    ]
    assert ".rundbrief-content .intro { color: red }" in html
