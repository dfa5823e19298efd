"""Keeping the campaign footer (unsubscribe, preferences, contact person) out of the campaign's reach.

Why not refuse "CSS that hides the footer"? Because there is no such list: ``display:none``
on ``.rundbrief-footer`` is one way, but ``* {display:none}``, ``div {...}``, ``body {font-size:0}``,
``color`` equal to the background, ``height:0;overflow:hidden``, ``opacity``, ``visibility``,
``clip-path``, ``transform``, a positioned white box painted over it ... all hide it too, and new
CSS properties keep coming. So the footer is made *unreachable* instead, by construction:

1. It is not part of the MJML document. rendering.py renders the campaign with MJML, then puts
   the footer (templates/emails/campaign_footer.html, inline styles only) after the content,
   as the last child of ``<body>``. MJML's ``mj-attributes``, ``mj-class`` and ``mj-style
   inline`` act while MJML renders, when the footer is not there yet.
2. The campaign's CSS is confined to its content (scope_css): every selector of every
   ``<mj-style>`` rule gets the content wrapper's class in front (``.rundbrief-content X``), so
   it can only match elements inside the content, never the footer, its ancestors (``body``,
   ``html``) or anything beside it. Rules for ``html``/``body``/``:root`` are refused (they could
   never apply), as are at-rules that bring CSS from elsewhere (``@import``) and ``<`` (which
   could end the ``<style>`` element early).
3. The content can paint only inside its own box: it sits in a wrapper whose inline style
   (``overflow:hidden; position:relative; contain:paint``, all ``!important``; no rule can
   target the wrapper itself) clips everything inside it, positioned and fixed elements, shadows
   and negative margins included. The footer follows the wrapper, so nothing overlaps it.
4. Markup cannot escape the content (check_markup): elements that change how the rest of the
   document is parsed or styled (``style``, ``link``, ``body``, ``textarea``, ``svg`` ...) are
   refused; every branch of a template tag (``{% if %}`` ... ``{% else %}``) must open and close
   the same HTML elements, so no recipient gets a stray ``</div>``; template output that could
   bypass escaping (``|safe``, ``{% autoescape off %}``, ``{% filter %}``, literal ``<`` inside
   ``{{ }}``/``{% %}``) is refused. MJML's head gets only ``mj-attributes``, ``mj-breakpoint``,
   ``mj-font`` (from the two font hosts below), ``mj-preview``, ``mj-style`` and ``mj-title``.
5. Finally the rendered sample is parsed the way a browser parses it (Lexbor, the WHATWG
   algorithm; verify_footer) and must have the footer, intact, as the last child of ``<body>``,
   after the content wrapper, with nothing added to ``<html>`` or ``<body>``.

What stays possible: a very long mail pushes the footer far down (it is still there), and mail
clients that ignore ``contain`` (some webmail) still clip overflow; most of them drop
``position`` anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import tinycss2
from django.template.base import Lexer, TokenType
from django.utils.translation import gettext as _
from selectolax.lexbor import LexborHTMLParser

CONTENT_CLASS = "rundbrief-content"
FOOTER_ATTRIBUTE = "data-rundbrief-footer"
# The wrapper that clips the content: nothing the campaign draws leaves this box.
CLIP_STYLE = "overflow:hidden !important;position:relative !important;contain:paint !important;"
CLIP_OPEN = f'<div data-rundbrief-clip style="{CLIP_STYLE}">'
FONT_HOSTS = ("https://fonts.googleapis.com/", "https://fonts.bunny.net/")

# Elements that re-style the document, change how the rest of it is parsed, or run code.
FORBIDDEN_ELEMENTS = frozenset(
    [
        "base",
        "body",
        "embed",
        "form",
        "frame",
        "frameset",
        "head",
        "html",
        "iframe",
        "link",
        "math",
        "meta",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "plaintext",
        "script",
        "select",
        "style",
        "svg",
        "template",
        "textarea",
        "title",
        "xmp",
    ]
)
VOID_ELEMENTS = frozenset(
    ["area", "br", "col", "hr", "img", "input", "source", "track", "wbr", "param", "keygen", "embed", "link"]
)
HEAD_ELEMENTS = frozenset(["mj-attributes", "mj-breakpoint", "mj-font", "mj-preview", "mj-style", "mj-title"])
GROUPING_AT_RULES = frozenset(["media", "supports"])
PLAIN_AT_RULES = frozenset(["font-face", "keyframes", "-webkit-keyframes"])
# Template tags whose body is a branch of the output; its HTML must be complete on its own.
BRANCH_TAGS = {
    "if": ("elif", "else", "endif"),
    "for": ("empty", "endfor"),
    "with": ("endwith",),
    "ifchanged": ("else", "endifchanged"),
    "spaceless": ("endspaceless",),
    "blocktranslate": ("plural", "endblocktranslate"),
    "blocktrans": ("plural", "endblocktrans"),
}
_SAFE_FILTER = re.compile(r"\|\s*safe(seq)?\b")


@dataclass(frozen=True)
class Problem:
    message: str
    line: int | None = None


# --- CSS --------------------------------------------------------------------------------------


def _line(node, offset: int) -> int | None:
    line = getattr(node, "source_line", None)
    return line + offset if line else None


def _split_selectors(prelude: list) -> list[str]:
    selectors, current = [], []
    for token in prelude:
        if token.type == "literal" and token.value == ",":
            selectors.append(tinycss2.serialize(current).strip())
            current = []
        else:
            current.append(token)
    selectors.append(tinycss2.serialize(current).strip())
    return selectors


_DOCUMENT_SELECTOR = re.compile(r"^(html|body|:root|head)(?![\w-])", re.IGNORECASE)


def scope_css(css: str, *, line_offset: int = 0) -> tuple[str, list[Problem]]:
    """The campaign's CSS with every selector confined to the content wrapper, and the problems."""
    problems: list[Problem] = []
    if "<" in css:
        line = css.count("\n", 0, css.index("<")) + 1 + line_offset
        problems.append(
            Problem(_("“<” cannot be used in <mj-style> (it could end the style element)."), line)
        )
    if "{%" in css or "{{" in css:
        problems.append(Problem(_("Template tags cannot be used in <mj-style>.")))
    if problems:
        return "", problems
    scoped = _scope_rules(
        tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True), line_offset, problems
    )
    return scoped, problems


def _scope_rules(rules: list, offset: int, problems: list[Problem]) -> str:
    out = []
    for rule in rules:
        if rule.type == "error":
            problems.append(Problem(_("CSS error: %(error)s") % {"error": rule.message}, _line(rule, offset)))
        elif rule.type == "qualified-rule":
            out.append(_scope_rule(rule, offset, problems))
        elif rule.type == "at-rule":
            name = rule.lower_at_keyword
            if name in GROUPING_AT_RULES and rule.content is not None:
                inner = tinycss2.parse_rule_list(rule.content, skip_comments=True, skip_whitespace=True)
                prelude = tinycss2.serialize(rule.prelude).strip()
                out.append(f"@{name} {prelude} {{{_scope_rules(inner, offset, problems)}}}")
            elif name in PLAIN_AT_RULES:
                out.append(tinycss2.serialize([rule]))
            else:
                problems.append(
                    Problem(
                        _("@%(rule)s cannot be used in a campaign's CSS.") % {"rule": name},
                        _line(rule, offset),
                    )
                )
    return "\n".join(out)


def _scope_rule(rule, offset: int, problems: list[Problem]) -> str:
    selectors = _split_selectors(rule.prelude)
    for selector in selectors:
        if not selector:
            problems.append(Problem(_("A CSS rule has an empty selector."), _line(rule, offset)))
        elif _DOCUMENT_SELECTOR.match(selector):
            problems.append(
                Problem(
                    _(
                        "CSS for “%(selector)s” cannot apply: a campaign's CSS reaches only its own content "
                        "(set the background with <mj-body>'s attributes, fonts with <mj-all>)."
                    )
                    % {"selector": selector},
                    _line(rule, offset),
                )
            )
    declarations = tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True)
    if any(node.type in ("qualified-rule", "at-rule") for node in declarations):
        problems.append(Problem(_("Nested CSS rules cannot be used in mails."), _line(rule, offset)))
    scoped = ", ".join(f".{CONTENT_CLASS} {selector}" for selector in selectors)
    return f"{scoped} {{{tinycss2.serialize(rule.content)}}}"


# --- Markup and template tags -----------------------------------------------------------------


@dataclass
class _Branch:
    tag: str
    line: int
    depth: int
    ends: tuple[str, ...]
    in_markup: bool
    text: list[str] = field(default_factory=list)


class _MarkupChecker(HTMLParser):
    """HTML elements of the campaign's source (mj-* tags are MJML's, checked elsewhere)."""

    def __init__(self, problems: list[Problem], line_offset: int):
        super().__init__(convert_charrefs=False)
        self.problems = problems
        self.line_offset = line_offset
        self.stack: list[str] = []
        self.token_line = 1  # the source line of the text being fed
        self.fed_lines = 0  # newlines fed before it
        self.total_lines = 0

    def feed_token(self, text: str, source_line: int) -> None:
        self.token_line, self.fed_lines = source_line, self.total_lines
        self.total_lines += text.count("\n")
        self.feed(text)

    def line(self) -> int:
        return self.token_line + (self.getpos()[0] - 1 - self.fed_lines) + self.line_offset

    @property
    def mid_markup(self) -> bool:
        """Inside a tag (``<a href="...``) or a comment: what comes next is not element content."""
        return self.rawdata.lstrip().startswith("<")

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._element(tag, attrs)
        if tag not in VOID_ELEMENTS and not tag.startswith("mj"):
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self._element(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag.startswith("mj") or tag in VOID_ELEMENTS:
            return
        if tag in self.stack:
            del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag) :]
        # A stray end tag: MJML refuses the document and says so.

    def _element(self, tag: str, attrs: list) -> None:
        if tag in FORBIDDEN_ELEMENTS:
            message = _(
                "<%(tag)s> cannot be used in a campaign: it could change or hide the rest of the mail."
            )
            self.problems.append(Problem(message % {"tag": tag}, self.line()))
        elif tag == "mj-include":
            self.problems.append(
                Problem(_("<mj-include> cannot be used: a campaign is one document."), self.line())
            )
        elif tag == "mj-font" and not (dict(attrs).get("href") or "").startswith(FONT_HOSTS):
            message = _("Web fonts can only come from %(hosts)s: a font file elsewhere could bring any CSS.")
            self.problems.append(Problem(message % {"hosts": ", ".join(FONT_HOSTS)}, self.line()))


def check_markup(source: str, *, line_offset: int = 0) -> list[Problem]:
    """Forbidden elements, branch-balanced HTML and unescaped output in the campaign's source."""
    problems: list[Problem] = []
    checker = _MarkupChecker(problems, line_offset)
    branches: list[_Branch] = []
    in_comment = 0
    for token in Lexer(source).tokenize():
        line = token.lineno + line_offset
        contents = token.contents
        name, _sep, rest = contents.partition(" ")
        if token.token_type == TokenType.COMMENT:
            continue
        if token.token_type == TokenType.BLOCK and name in ("comment", "endcomment"):
            in_comment = max(0, in_comment + (1 if name == "comment" else -1))
            continue
        if in_comment:
            continue  # {% comment %} ... {% endcomment %} is never output
        if token.token_type == TokenType.TEXT:
            checker.feed_token(contents, token.lineno)
            for branch in branches:
                branch.text.append(contents)
            continue
        if _SAFE_FILTER.search(contents):
            problems.append(Problem(_("|safe cannot be used in a campaign: every value is escaped."), line))
        if token.token_type == TokenType.VAR:
            if "<" in contents:
                problems.append(
                    Problem(_("“<” cannot be used inside {{ … }} (it would not be escaped)."), line)
                )
            checker.feed_token("x", token.lineno)  # a value stands in the text or in an attribute
            continue
        # A block tag.
        if name == "autoescape" and rest.strip() == "off":
            problems.append(Problem(_("{% autoescape off %} cannot be used in a campaign."), line))
        if name == "filter":
            problems.append(
                Problem(_("{% filter %} cannot be used in a campaign; filter the values instead."), line)
            )
        if "<" in contents and name not in ("if", "elif"):
            problems.append(Problem(_("“<” cannot be used inside {% … %} (it would not be escaped)."), line))
        if name in BRANCH_TAGS:
            branches.append(_Branch(name, line, len(checker.stack), BRANCH_TAGS[name], checker.mid_markup))
        elif branches and name in branches[-1].ends:
            _check_branch(branches[-1], checker, problems, line)
            if name.startswith("end"):
                branches.pop()
            else:
                branches[-1].text = []
    if checker.rawdata.lstrip().startswith("<!--"):
        problems.append(Problem(_("An HTML comment is never closed.")))
    return problems


def _check_branch(branch: _Branch, checker: _MarkupChecker, problems: list[Problem], line: int) -> None:
    if branch.in_markup:
        # A condition inside a tag (<a {% if x %}class="y"{% endif %}>) may only change attributes.
        if any("<" in text or ">" in text for text in branch.text) or not checker.mid_markup:
            message = _(
                "The {%% %(tag)s %%} from line %(line)s inside an HTML tag may only change its attributes."
            )
            problems.append(Problem(message % {"tag": branch.tag, "line": branch.line}, line))
        return
    if len(checker.stack) != branch.depth or checker.mid_markup:
        message = _(
            "Each branch of the {%% %(tag)s %%} from line %(line)s must close the HTML elements it opens "
            "(and close none it did not open)."
        )
        problems.append(Problem(message % {"tag": branch.tag, "line": branch.line}, line))
        del checker.stack[branch.depth :]


def check_head(head: str, *, line_offset: int = 0) -> list[Problem]:
    """Only the head elements that cannot bring outside CSS or markup."""
    problems = []
    for match in re.finditer(r"<\s*(mj-[\w-]+)", head):
        tag = match.group(1).lower()
        parent_ok = tag in HEAD_ELEMENTS or _inside(head, match.start(), "mj-attributes")
        if not parent_ok:
            problems.append(
                Problem(
                    _("<%(tag)s> cannot be used in <mj-head> of a campaign.") % {"tag": tag},
                    head.count("\n", 0, match.start()) + 1 + line_offset,
                )
            )
    return problems


def _inside(text: str, position: int, tag: str) -> bool:
    before = text[:position]
    return before.rfind(f"<{tag}") > before.rfind(f"</{tag}")


# --- The rendered result -------------------------------------------------------------------------


def verify_footer(
    html: str, *, preferences_url: str, unsubscribe_url: str, body_attributes: dict
) -> list[Problem]:
    """Parse the mail as a browser would: the footer must be body's last child, intact, after the
    clipped content, and <body> must carry only the layout's attributes."""
    tree = LexborHTMLParser(html)
    body = tree.body
    problems = []
    if body is None:
        return [Problem(_("The mail has no body."))]
    if dict(body.attributes) != body_attributes:
        problems.append(Problem(_("The campaign changes the mail's <body>.")))
    children = [node for node in body.iter(include_text=False) if not node.tag.startswith("-")]  # no comments
    footer = children[-1] if children and FOOTER_ATTRIBUTE in children[-1].attributes else None
    if footer is None or len(tree.css(f"[{FOOTER_ATTRIBUTE}]")) != 1:
        problems.append(Problem(_("The footer would not stay the last part of the mail.")))
    elif len(children) != 2 or "data-rundbrief-clip" not in children[0].attributes:
        problems.append(Problem(_("The content would not stay inside its frame.")))
    if footer is not None:
        links = {node.attributes.get("href") for node in footer.css("a")}
        if not {preferences_url, unsubscribe_url} <= links:
            problems.append(Problem(_("The footer's links would not survive.")))
    if tree.css_first("body style, body link, body script, body base, body meta"):
        problems.append(Problem(_("The campaign adds styles or scripts outside its content.")))
    return problems
