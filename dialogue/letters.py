"""Reader letters in a campaign: the MJML component ``<mj-rundbrief-letters topic="..." count="3"/>``.

The component stands between sections. Before a campaign is compiled (campaigns.rendering), it is
replaced by one section holding the topic's newest letters published with consent: for a campaign
that has started, those published before it started (so its archive page shows the letters its
mail carried), for a draft those published now (the editor preview shows them). A letter withdrawn
since is left out, and no other letter moves up in its place. The expansion stays on the
component's line, so the marketer's line numbers in error messages stay right.
"""

from __future__ import annotations

import html
import re
from datetime import datetime

from django.utils.translation import gettext_noop

from dialogue.models import ReaderLetter

TAG = "mj-rundbrief-letters"
DEFAULT_COUNT = 3
MAX_COUNT = 10
_COMPONENT = re.compile(
    r"<mj-rundbrief-letters\b(?P<attrs>[^>]*?)(?:/>|>\s*</mj-rundbrief-letters>)", re.IGNORECASE
)
_ATTRIBUTE = re.compile(r"""(?P<name>[a-z-]+)\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')""", re.IGNORECASE)
_BRACES = re.compile(r"[{}]")

# Rendered by the campaign's template in each recipient's language (the strings are in the catalogue).
HEADING = gettext_noop("Letters from our readers")
ANONYMOUS = gettext_noop("Name known to the editors")


def _attributes(text: str) -> dict[str, str]:
    return {m["name"].lower(): m["dq"] if m["dq"] is not None else m["sq"] for m in _ATTRIBUTE.finditer(text)}


def _count(value: str | None) -> int:
    try:
        return max(1, min(MAX_COUNT, int(value or DEFAULT_COUNT)))
    except ValueError:
        return DEFAULT_COUNT


def letters_for(*, topic_slug: str, count: int, until: datetime | None) -> list[ReaderLetter]:
    """The letters the component shows: the newest `count` ever published up to `until`, less the
    withdrawn ones (counted, so that none moves up into an issue it was not in)."""
    published = ReaderLetter.objects.filter(topic__slug=topic_slug, published_at__isnull=False)
    if until is not None:
        published = published.filter(published_at__lte=until)
    newest = published.order_by("-published_at", "-id")[:count]
    return [letter for letter in newest if letter.status == ReaderLetter.Status.PUBLISHED]


def _template_safe(text: str) -> str:
    """The letter's words as HTML that the campaign's Django template prints as they are."""
    escaped = html.escape(text).replace("\r\n", "\n").replace("\n", "<br>")
    return _BRACES.sub(
        lambda m: "{% templatetag openbrace %}" if m[0] == "{" else "{% templatetag closebrace %}", escaped
    )


def _section(letters: list[ReaderLetter]) -> str:
    parts = [
        f'<mj-text css-class="rundbrief-letters-heading"><h2>{{% translate "{HEADING}" %}}</h2></mj-text>'
    ]
    for letter in letters:
        signature = (
            _template_safe(letter.signature) if letter.signature else f'{{% translate "{ANONYMOUS}" %}}'
        )
        parts.append(
            f'<mj-text css-class="rundbrief-letter"><p>{_template_safe(letter.text)}</p>'
            f"<p><em>— {signature}</em></p></mj-text>"
        )
    return f"<mj-section><mj-column>{''.join(parts)}</mj-column></mj-section>"


def expand_letters(mjml_body: str, *, until: datetime | None = None) -> str:
    """The campaign's source with each letters component replaced by its letters (nothing if none)."""
    if TAG not in mjml_body.lower():
        return mjml_body

    def replace(match: re.Match) -> str:
        attributes = _attributes(match["attrs"])
        letters = letters_for(
            topic_slug=attributes.get("topic", ""), count=_count(attributes.get("count")), until=until
        )
        return _section(letters) if letters else ""

    return _COMPONENT.sub(replace, mjml_body)


def letters_in(mjml_body: str, *, until: datetime | None) -> list[ReaderLetter]:
    """The letters an issue carries (its components, in order): what a reply about "the letter
    from K. M." refers to."""
    found: list[ReaderLetter] = []
    for match in _COMPONENT.finditer(mjml_body):
        attributes = _attributes(match["attrs"])
        found += letters_for(
            topic_slug=attributes.get("topic", ""), count=_count(attributes.get("count")), until=until
        )
    return found
