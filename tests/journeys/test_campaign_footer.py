"""The campaign footer stays visible and on top in Chromium, whatever CSS the campaign brings.

The hostile CSS is that of tests/campaigns/test_footer.py (where its confinement is checked
rule by rule); here a real browser shows that none of it hides or covers the footer.
"""

from __future__ import annotations

import pytest

from campaigns.rendering import compile_campaign
from tests.campaigns.test_footer import HOSTILE_CSS, VARS, campaign


@pytest.mark.browser
def test_the_footer_stays_visible_and_on_top_in_chromium(browser, tmp_path):
    mails = {
        name: compile_campaign(mjml_body=campaign(css), contact_name="Anna")
        for name, css in HOSTILE_CSS.items()
    }
    # One Chromium for the session: the journeys' browser fixture.
    for width in (1024, 390):
        page = browser.new_page(viewport={"width": width, "height": 900})
        for name, compiled in mails.items():
            page.set_content(compiled.render(VARS).html)
            footer = page.locator("[data-rundbrief-footer]")
            footer.scroll_into_view_if_needed()
            assert footer.is_visible(), name
            for text in ("Anna will answer you personally", "Unsubscribe", "Change your preferences"):
                element = footer.get_by_text(text).first
                assert element.is_visible(), (name, text)
                box = element.bounding_box()
                assert box and box["width"] > 10 and box["height"] > 5, (name, text, box)
                # Nothing paints over it: the topmost element at its centre is the footer's own.
                on_top = page.evaluate(
                    "([x, y]) => !!document.elementFromPoint(x, y)?.closest('[data-rundbrief-footer]')",
                    [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
                )
                assert on_top, (name, text)
            style = footer.get_by_text("Unsubscribe").evaluate(
                "a => { const s = getComputedStyle(a);"
                " return [s.color, s.fontSize, s.opacity, s.visibility] }"
            )
            assert style == ["rgb(31, 95, 191)", "13px", "1", "visible"], (name, style)
        page.screenshot(path=str(tmp_path / f"footer-{width}.png"), full_page=True)
        page.close()
