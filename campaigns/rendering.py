"""MJML → HTML once per campaign, compiled once as a Django template; per recipient only a render.

The marketer writes the sections of the mail body (or a whole ``<mjml>`` document, whose
``<mj-head>`` and ``<mj-body>`` we take). The base layout in templates/emails/ wraps it, and
the footer (unsubscribe, preferences, "just reply to this mail") is added after MJML has
rendered, out of reach of the campaign's CSS and markup (campaigns/footer_guard.py says how
and why), so the marketer cannot remove or hide it. The marketer's source is checked on its
own first, which gives errors the marketer's line numbers and keeps an unclosed ``{% if %}``
from swallowing the footer.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import lxml.html
from django.conf import settings
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from mjml import mjml2html
from selectolax.lexbor import LexborHTMLParser

from campaigns import footer_guard
from dialogue.letters import expand_letters

BASE_LAYOUT = Path(settings.BASE_DIR) / "templates" / "emails" / "campaign_base.mjml"
TEXT_FOOTER = Path(settings.BASE_DIR) / "templates" / "emails" / "campaign_footer.txt"
HTML_FOOTER = Path(settings.BASE_DIR) / "templates" / "emails" / "campaign_footer.html"
HEAD_SLOT = "<!-- rundbrief:head -->"
BODY_SLOT = "<!-- rundbrief:body -->"

# The variables a campaign may use; listed in the editor.
VARIABLES: dict[str, str] = {
    "subscriber.name": gettext_lazy("The subscriber's name (may be empty)"),
    "subscriber.email": gettext_lazy("The subscriber's address"),
    "contact.name": gettext_lazy("The named person who answers replies"),
    "campaign.name": gettext_lazy("The campaign's name"),
    "subject": gettext_lazy("The subject line, as this subscriber gets it"),
    "preheader": gettext_lazy("The preheader, as this subscriber gets it"),
    "preferences_url": gettext_lazy("Link to the subscriber's preference centre"),
    "unsubscribe_url": gettext_lazy("Link to unsubscribe"),
    "web_url": gettext_lazy("Link to this mail in the browser"),
    "talk_url": gettext_lazy("Link to write to us in the browser or ask for a call back"),
}

# Known MJML elements; an unknown mj-* tag would silently pass through MRML as junk HTML.
MJML_TAGS = frozenset(
    [
        "mjml",
        "mj-head",
        "mj-body",
        "mj-attributes",
        "mj-all",
        "mj-class",
        "mj-breakpoint",
        "mj-font",
        "mj-html-attributes",
        "mj-html-attribute",
        "mj-selector",
        "mj-preview",
        "mj-style",
        "mj-title",
        "mj-include",
        "mj-accordion",
        "mj-accordion-element",
        "mj-accordion-title",
        "mj-accordion-text",
        "mj-button",
        "mj-carousel",
        "mj-carousel-image",
        "mj-column",
        "mj-divider",
        "mj-group",
        "mj-hero",
        "mj-image",
        "mj-navbar",
        "mj-navbar-link",
        "mj-raw",
        "mj-section",
        "mj-social",
        "mj-social-element",
        "mj-spacer",
        "mj-table",
        "mj-text",
        "mj-wrapper",
    ]
)
VOID_MJML_TAGS = frozenset(
    [
        "mj-image",
        "mj-divider",
        "mj-spacer",
        "mj-breakpoint",
        "mj-font",
        "mj-all",
        "mj-class",
        "mj-include",
        "mj-carousel-image",
        "mj-html-attribute",
        "mj-selector",
    ]
)

# Marketer templates get the default tags and i18n, but no loaders: {% include %} can read nothing.
_CHECK_ENGINE = Engine(debug=True, builtins=["django.templatetags.i18n"])
_RENDER_ENGINE = Engine(debug=False, builtins=["django.templatetags.i18n"])
_TEXT_ENGINE = Engine(debug=False, autoescape=False, builtins=["django.templatetags.i18n"])

_MJ_HEAD = re.compile(r"<mj-head[^>]*>(?P<inner>.*?)</mj-head>", re.DOTALL | re.IGNORECASE)
_MJ_BODY = re.compile(r"<mj-body[^>]*>(?P<inner>.*)</mj-body>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class RenderProblem:
    """One error, in the marketer's terms: which part, which line (1-based, or None), what."""

    part: str  # "mjml", "template" or "text"
    message: str
    line: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class CampaignRenderError(Exception):
    """The campaign cannot be rendered; carries every problem found, with lines."""

    def __init__(self, problems: list[RenderProblem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.part} line {p.line}: {p.message}" for p in problems))


@dataclass(frozen=True)
class RenderedMail:
    html: str
    text: str
    subject: str = ""
    preheader: str = ""


# Rendered per recipient before the bodies, which read them as {{ subject }} and {{ preheader }}.
HEADLINES = ("subject", "preheader")


def one_line(value: str) -> str:
    """A rendered subject or preheader: one line, whitespace collapsed (no header injection)."""
    return " ".join(value.split())


@dataclass(frozen=True)
class CompiledCampaign:
    """Templates compiled once; ``render`` is the whole per-recipient cost (~tens of µs)."""

    html_template: Template
    text_template: Template
    subject_template: Template
    preheader_template: Template
    constants: dict

    def headlines(self, variables: dict) -> dict[str, str]:
        """This recipient's subject and preheader, in the active language: the same engine, the same
        variables and the same checks as the body (they are plain text: no HTML escaping)."""
        context = {**self.constants, **variables}
        return {
            "subject": one_line(self.subject_template.render(Context(context, autoescape=False))),
            "preheader": one_line(self.preheader_template.render(Context(context, autoescape=False))),
        }

    def render(
        self, variables: dict, *, language: str | None = None, text_only: bool = False
    ) -> RenderedMail:
        language = language or settings.LANGUAGE_CODE
        if language != translation.get_language():
            with translation.override(language):
                return self.render(variables, language=language, text_only=text_only)
        # Callers sending many mails activate each language once (switching costs more than rendering).
        if "subject" not in variables:
            variables = {**variables, **self.headlines(variables)}
        context = {**self.constants, **variables}
        text = self.text_template.render(Context(context, autoescape=False))
        html = "" if text_only else self.html_template.render(Context(context))
        return RenderedMail(
            html=html, text=text, subject=variables["subject"], preheader=variables["preheader"]
        )


class VersionedCompiled:
    """A campaign's compiled versions by language (campaigns.messages.CampaignMessages), for the
    static analysis of ESP batches: campaigns.merge splits each, and a language's bodies are
    picked by the active language, as batches activate each recipient's before rendering."""

    def __init__(self, compiled: dict[str, CompiledCampaign], *, default_language: str):
        self.by_language = compiled
        self.default_language = default_language

    def for_language(self, language: str) -> CompiledCampaign:
        return self.by_language.get(language, self.by_language[self.default_language])


@dataclass(frozen=True)
class _Source:
    head: str
    body: str
    body_first_line: int  # the line of the marketer's source on which ``body`` starts


def _split_source(mjml_body: str) -> _Source:
    """Accept either body sections or a whole <mjml> document."""
    body_match = _MJ_BODY.search(mjml_body)
    if not body_match:
        return _Source(head="", body=mjml_body, body_first_line=1)
    head_match = _MJ_HEAD.search(mjml_body)
    first_line = mjml_body.count("\n", 0, body_match.start("inner")) + 1
    return _Source(
        head=head_match["inner"] if head_match else "", body=body_match["inner"], body_first_line=first_line
    )


class _MjmlStructureChecker(HTMLParser):
    """Finds unknown, unclosed and crossed mj-* tags, with their lines (MRML reports no lines)."""

    def __init__(self, line_offset: int):
        super().__init__(convert_charrefs=False)
        self.line_offset = line_offset
        self.stack: list[tuple[str, int]] = []
        self.problems: list[RenderProblem] = []

    def _line(self) -> int:
        return self.getpos()[0] + self.line_offset

    def _known(self, tag: str) -> bool:
        if tag in MJML_TAGS:
            return True
        self.problems.append(
            RenderProblem("mjml", _("Unknown MJML element <%(tag)s>.") % {"tag": tag}, self._line())
        )
        return False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag.startswith("mj") and self._known(tag) and tag not in VOID_MJML_TAGS:
            self.stack.append((tag, self._line()))

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag.startswith("mj"):
            self._known(tag)

    def handle_endtag(self, tag: str) -> None:
        if not tag.startswith("mj") or tag in VOID_MJML_TAGS or tag not in MJML_TAGS:
            return
        if not self.stack:
            self.problems.append(
                RenderProblem("mjml", _("</%(tag)s> closes nothing.") % {"tag": tag}, self._line())
            )
            return
        open_tag, open_line = self.stack[-1]
        if open_tag == tag:
            self.stack.pop()
            return
        self.problems.append(
            RenderProblem(
                "mjml",
                _("</%(tag)s> found, but <%(open)s> from line %(line)s is still open.")
                % {"tag": tag, "open": open_tag, "line": open_line},
                self._line(),
            )
        )
        # Recover: drop back to the matching open tag if there is one.
        names = [name for name, _line in self.stack]
        if tag in names:
            del self.stack[len(names) - 1 - names[::-1].index(tag) :]

    def finish(self) -> list[RenderProblem]:
        self.close()
        for tag, line in self.stack:
            self.problems.append(RenderProblem("mjml", _("<%(tag)s> is never closed.") % {"tag": tag}, line))
        return self.problems


def _template_problem(part: str, source: str, exc: TemplateSyntaxError, line_offset: int) -> RenderProblem:
    debug = getattr(exc, "template_debug", None) or {}
    line = debug.get("line")
    return RenderProblem(part, str(exc), line + line_offset if line else None)


def _check_template(part: str, source: str, line_offset: int = 0) -> list[RenderProblem]:
    try:
        Template(source, engine=_CHECK_ENGINE)
    except TemplateSyntaxError as exc:
        return [_template_problem(part, source, exc, line_offset)]
    return []


@lru_cache(maxsize=1)
def _layout() -> tuple[str, str, str]:
    return (
        BASE_LAYOUT.read_text(encoding="utf-8"),
        TEXT_FOOTER.read_text(encoding="utf-8"),
        HTML_FOOTER.read_text(encoding="utf-8").strip(),
    )


_MJ_STYLE = re.compile(r"(<mj-style\b[^>]*>)(.*?)(</mj-style>)", re.DOTALL | re.IGNORECASE)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


def _guard_problems(problems: list[footer_guard.Problem], part: str = "mjml") -> list[RenderProblem]:
    return [RenderProblem(part, problem.message, problem.line) for problem in problems]


def _scoped_head(head: str, first_line: int) -> tuple[str, list[RenderProblem]]:
    """The head with each <mj-style>'s CSS confined to the campaign's content."""
    problems: list[RenderProblem] = []

    def scope(match: re.Match) -> str:
        line_offset = first_line - 1 + head.count("\n", 0, match.start(2))
        css, found = footer_guard.scope_css(match.group(2), line_offset=line_offset)
        problems.extend(_guard_problems(found))
        return match.group(1) + css + match.group(3)

    return _MJ_STYLE.sub(scope, head), problems


def _attach_footer(html: str, footer: str) -> tuple[str, dict]:
    """MJML's body inside the clipping frame, the footer after it; and <body>'s own attributes."""
    body_open = _BODY_OPEN.search(html)
    body_close = html.rfind("</body>")
    if body_open is None or body_close < body_open.end():
        raise CampaignRenderError([RenderProblem("mjml", _("MJML produced no <body>."))])
    attributes = dict(LexborHTMLParser(f"<html>{body_open.group(0)}</body></html>").body.attributes)
    inner = html[body_open.end() : body_close]
    framed = f"{footer_guard.CLIP_OPEN}{inner}</div>{footer}"
    return html[: body_open.end()] + framed + html[body_close:], attributes


def _write_link(link: lxml.html.HtmlElement) -> None:
    """A link as a mail program shows a text part: "words (https://...)" in a sentence, "words:
    https://..." where the link stands alone (a button), the bare address where the words are it."""
    href = " ".join((link.get("href") or "").split())
    if not href or href.startswith("#"):
        return
    words = " ".join(link.text_content().split()) or " ".join(
        " ".join(image.get("alt", "").split()) for image in link.iter("img") if image.get("alt", "").strip()
    )
    shown = href.removeprefix("mailto:")
    if not words:
        link.text = shown
        return
    if not link.text_content().strip():  # an image link: its alt text stands for the words
        link.text = words
    if words.rstrip("/") in (href.rstrip("/"), shown.rstrip("/")):
        return
    parent = link.getparent()
    alone = parent is not None and " ".join(parent.text_content().split()) == words
    link.tail = (f": {shown}" if alone else f" ({shown})") + (link.tail or "")


def _html_to_text(html: str) -> str:
    """Plain, readable text (no Markdown: no **bold**, no [words](url)), laid out as a browser
    would (inscriptis, as for inbound HTML mail); template tags stay as they are, on their lines."""
    document = lxml.html.document_fromstring(html)
    for link in document.iter("a"):
        _write_link(link)
    for element in document.iter():
        # MJML lays out with tables and centres with align/style: the text wants the words, in
        # reading order, at the left margin (columns one after the other, not side by side).
        if element.tag in _LAYOUT_TAGS:
            element.tag = "div"
        for attribute in ("align", "style"):
            element.attrib.pop(attribute, None)
    text = Inscriptis(document, ParserConfig(css=CSS_PROFILES["strict"])).get_text()
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"


_BLANK_LINES = re.compile(r"\n{3,}")
_LAYOUT_TAGS = frozenset(["table", "thead", "tbody", "tfoot", "tr", "td", "th"])


def _generated_text(source: _Source) -> str:
    """The text part from the marketer's sections alone: the footer has its own text version."""
    head = f"<mj-head>{source.head}</mj-head>" if source.head.strip() else ""
    html = mjml2html(f"<mjml>{head}<mj-body>{source.body}</mj-body></mjml>", disable_comments=True)
    return _html_to_text(html)


def compile_campaign(
    *,
    mjml_body: str,
    text_body: str = "",
    subject: str = "",
    preheader: str = "",
    contact_name: str = "",
    campaign_name: str = "",
    letters_until: datetime | None = None,
) -> CompiledCampaign:
    """Validate and compile a campaign; raises CampaignRenderError listing every problem found."""
    layout, text_footer, html_footer = _layout()
    mjml_body = expand_letters(mjml_body, until=letters_until)  # <mj-rundbrief-letters> (dialogue)
    source = _split_source(mjml_body)
    checker = _MjmlStructureChecker(line_offset=source.body_first_line - 1)
    checker.feed(source.body)
    problems = checker.finish()
    problems += _check_template("template", source.body, source.body_first_line - 1)
    problems += _check_template("template", source.head)
    if text_body.strip():
        problems += _check_template("text", text_body)
    problems += _check_template("subject", subject)
    problems += _check_template("preheader", preheader)
    # Nothing in the campaign may reach the footer (footer_guard explains the rules).
    head_first_line = mjml_body.count("\n", 0, mjml_body.find(source.head)) + 1 if source.head else 1
    problems += _guard_problems(
        footer_guard.check_markup(source.body, line_offset=source.body_first_line - 1)
    )
    problems += _guard_problems(footer_guard.check_head(source.head, line_offset=head_first_line - 1))
    problems += _guard_problems(footer_guard.check_markup(source.head, line_offset=head_first_line - 1))
    head, css_problems = _scoped_head(source.head, head_first_line)
    problems += css_problems
    if problems:
        raise CampaignRenderError(problems)

    document = layout.replace(HEAD_SLOT, head).replace(BODY_SLOT, source.body)
    try:
        html = mjml2html(document, disable_comments=True)
    except ValueError as exc:
        raise CampaignRenderError(
            [RenderProblem("mjml", _("MJML could not be rendered: %(error)s") % {"error": exc})]
        ) from exc
    html, body_attributes = _attach_footer(html, html_footer)
    text_source = text_body.strip() + "\n" if text_body.strip() else _generated_text(source)
    try:
        html_template = Template(html, engine=_RENDER_ENGINE)
        text_template = Template(text_source + "\n" + text_footer, engine=_TEXT_ENGINE)
    except TemplateSyntaxError as exc:  # MJML moved something template-relevant, e.g. inside an attribute
        raise CampaignRenderError([RenderProblem("template", str(exc))]) from exc
    constants = {
        "contact": {"name": contact_name},
        "campaign": {"name": campaign_name},
    }
    compiled = CompiledCampaign(
        html_template=html_template,
        text_template=text_template,
        subject_template=Template(subject, engine=_TEXT_ENGINE),
        preheader_template=Template(preheader, engine=_TEXT_ENGINE),
        constants=constants,
    )
    _render_sample(compiled, body_attributes)
    return compiled


SAMPLE_VARIABLES = {
    "subscriber": {"name": "Alex Sample", "email": "alex@example.org"},
    "preferences_url": "https://example.org/preferences/sample/",
    "unsubscribe_url": "https://example.org/unsubscribe/sample/",
    "web_url": "https://example.org/web/sample/",
    "talk_url": "https://example.org/talk/sample/",
}


def _render_sample(compiled: CompiledCampaign, body_attributes: dict) -> None:
    """Some errors only show when rendering ({% include %} of nothing, a failing filter): find them now,
    not once per recipient in the middle of a send. The sample is also parsed as a browser parses
    it: the footer must be there, intact and last."""
    try:
        rendered = compiled.render(SAMPLE_VARIABLES)
    except Exception as exc:  # any template runtime error is the marketer's to fix
        raise CampaignRenderError([RenderProblem("template", str(exc))]) from exc
    problems = footer_guard.verify_footer(
        rendered.html,
        preferences_url=SAMPLE_VARIABLES["preferences_url"],
        unsubscribe_url=SAMPLE_VARIABLES["unsubscribe_url"],
        body_attributes=body_attributes,
    )
    if problems:
        raise CampaignRenderError(_guard_problems(problems))
