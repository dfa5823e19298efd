"""Unknown variables in a campaign: ``{{ subscriber.firstname }}`` would render as nothing in every mail.

Django renders a misspelt variable as an empty string, silently. Here the marketer's sources
(body, text part, subject, preheader) are parsed and every variable they read is checked
against the ones a campaign has (rendering.VARIABLES), minus the names the template binds
itself ({% for x in ... %}, {% with x=... %}, {% blocktranslate with x=... %},
{% translate "..." as x %}). The editor shows them as warnings; a launch is refused with them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from django.template import Template, TemplateSyntaxError
from django.template.base import FilterExpression, Node, NodeList, Token, TokenType, Variable
from django.template.defaulttags import ForNode, WithNode
from django.templatetags.i18n import BlockTranslateNode
from django.utils.translation import gettext as _

from campaigns.rendering import _CHECK_ENGINE, VARIABLES, RenderProblem, _split_source

KNOWN = frozenset(VARIABLES)


def _known(lookups: tuple[str, ...], bound: frozenset[str]) -> bool:
    if lookups[0] in bound:
        return True
    # A known variable, or something read from one ({{ subscriber.name.upper }}).
    return any(".".join(lookups[:n]) in KNOWN for n in range(1, len(lookups) + 1))


class _Walker:
    def __init__(self, line_offset: int):
        self.line_offset = line_offset
        self.found: list[tuple[str, int | None]] = []
        self.seen: set[int] = set()
        self.line: int | None = None

    def variable(self, var: object, bound: frozenset[str]) -> None:
        if isinstance(var, Variable) and var.lookups and not _known(var.lookups, bound):
            line = self.line + self.line_offset if self.line else None
            self.found.append((".".join(var.lookups), line))

    def walk(self, obj: object, bound: frozenset[str]) -> None:
        if isinstance(obj, (str, bytes, int, float, type(None), Token)) or id(obj) in self.seen:
            return
        self.seen.add(id(obj))
        if isinstance(obj, FilterExpression):
            self.variable(obj.var, bound)
            for _filter, args in obj.filters:
                for lookup, arg in args:
                    if lookup:
                        self.variable(arg, bound)
        elif isinstance(obj, NodeList):
            for node in obj:
                self.node(node, bound)
                if getattr(node, "asvar", None):  # {% translate "x" as name %} binds name for what follows
                    bound = bound | {node.asvar}
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for item in obj:
                self.walk(item, bound)
        elif isinstance(obj, dict):
            for value in obj.values():
                self.walk(value, bound)
        elif isinstance(obj, Node):
            self.node(obj, bound)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            for name, value in vars(obj).items():  # smartif operators and literals
                if name not in ("origin", "template"):
                    self.walk(value, bound)

    def node(self, node: Node, bound: frozenset[str]) -> None:
        token = getattr(node, "token", None)
        if token is not None and getattr(token, "lineno", None):
            self.line = token.lineno
        if isinstance(node, ForNode):
            self.walk(node.sequence, bound)
            self.walk(node.nodelist_loop, bound | set(node.loopvars) | {"forloop"})
            self.walk(node.nodelist_empty, bound)
        elif isinstance(node, WithNode):
            self.walk(node.extra_context, bound)
            self.walk(node.nodelist, bound | set(node.extra_context))
        elif isinstance(node, BlockTranslateNode):
            self.walk(node.extra_context, bound)
            inner = bound | set(node.extra_context) | ({node.countervar} if node.countervar else set())
            if node.counter is not None:
                self.walk(node.counter, bound)
            for token in [*node.singular, *(node.plural or [])]:
                if token.token_type == TokenType.VAR:
                    self.variable(Variable(token.contents), inner)
        else:
            for name, value in vars(node).items():
                if name not in ("origin", "token"):
                    self.walk(value, bound)


def _unknown_in(part: str, source: str, line_offset: int = 0) -> Iterator[RenderProblem]:
    try:
        template = Template(source, engine=_CHECK_ENGINE)
    except TemplateSyntaxError:
        return  # reported by compile_campaign, with its line
    walker = _Walker(line_offset)
    walker.walk(template.nodelist, frozenset())
    for name, line in walker.found:
        message = _("Unknown variable {{ %(name)s }}: it would be empty in every mail.") % {"name": name}
        close = difflib.get_close_matches(name, sorted(KNOWN), n=1)
        if close:
            message += " " + _("Did you mean {{ %(known)s }}?") % {"known": close[0]}
        yield RenderProblem(part, message, line)


def unknown_variables(
    *, mjml_body: str, text_body: str = "", subject: str = "", preheader: str = ""
) -> list[RenderProblem]:
    """Every variable the campaign reads that no mail has, with its part and line."""
    source = _split_source(mjml_body)
    problems = list(_unknown_in("template", source.body, source.body_first_line - 1))
    problems += _unknown_in("template", source.head)
    problems += _unknown_in("text", text_body)
    problems += _unknown_in("subject", subject)
    problems += _unknown_in("preheader", preheader)
    return problems
