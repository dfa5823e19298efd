"""Static analysis of a compiled campaign: can one ESP batch call carry every recipient's mail?

A campaign body is a Django template. Walking its top-level nodes: text is static; a
``{{ variable }}`` that reads only per-recipient names becomes a merge field, whose value
is that node rendered per recipient (autoescaped exactly as in a real render); every
other node that never mentions a per-recipient name is rendered once per language. Any
other node that mentions one anywhere inside ({% if subscriber.name %}, {% with %}, a
``{% blocktranslate with n=subscriber.name %}``) makes the campaign unbatchable: it is then
sent mail by mail, as before. Joining the per-node outputs is exactly what Django's
``NodeList.render`` does, so a batch body with each recipient's values put back is the
same string as that recipient's own render (proved in tests/campaigns/test_merge.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.template import Context, Template
from django.template.base import FilterExpression, Node, NodeList, TextNode, Token, Variable, VariableNode
from django.utils import translation

from campaigns.rendering import HEADLINES, SAMPLE_VARIABLES, CompiledCampaign, VersionedCompiled

# The names MessageFactory.variables() adds per recipient (SAMPLE_VARIABLES mirrors them), and
# the subject and preheader rendered from them.
PER_RECIPIENT = frozenset(SAMPLE_VARIABLES) | frozenset(HEADLINES)
_MENTION = re.compile(r"\b(?:" + "|".join(sorted(PER_RECIPIENT)) + r")\b")


class NotBatchable(Exception):
    """A node needs the recipient's data in a way an ESP merge field cannot express."""


def _root(var: object) -> str | None:
    """The context name an expression starts from; None for literals ("du", 3)."""
    if isinstance(var, Variable) and var.lookups:
        return var.lookups[0]
    return None


def _roots(expression: FilterExpression) -> set[str]:
    roots = {_root(expression.var)}
    for _filter, args in expression.filters:
        roots |= {_root(arg) for lookup, arg in args if lookup}
    return roots - {None}


def _strings(obj: object, seen: set[int]) -> Iterator[str]:
    """Every name-bearing string inside a node: tag contents, expressions, nested nodes."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Token):
        yield obj.contents
    elif isinstance(obj, FilterExpression):
        yield obj.token
    elif isinstance(obj, (list, tuple, set, frozenset, NodeList)):
        for item in obj:
            yield from _strings(item, seen)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _strings(key, seen)
            yield from _strings(value, seen)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        # Nodes, smartif operators, literals: their attributes hold the expressions.
        for name, value in vars(obj).items():
            if name != "origin":
                yield from _strings(value, seen)


def mentions_recipient(node: Node) -> bool:
    """Conservative: a literal text "subscriber" inside an {% if %} also counts."""
    return any(_MENTION.search(text) for text in _strings(node, set()))


def _field_key(node: Node) -> str | None:
    """The merge field a top-level node becomes, or None if it is static; raises if neither."""
    if isinstance(node, TextNode):
        return None
    if isinstance(node, VariableNode):
        roots = _roots(node.filter_expression)
        if not roots & PER_RECIPIENT:
            return None
        if roots <= PER_RECIPIENT:
            return node.filter_expression.token
        raise NotBatchable(f"mixes recipient and other data: {{{{ {node.filter_expression.token} }}}}")
    if mentions_recipient(node):
        raise NotBatchable(f"uses recipient data inside a tag: {node.token.contents}")
    return None


@contextmanager
def _bound(template: Template, data: dict, *, autoescape: bool) -> Iterator[Context]:
    """The context state Template.render() sets up before rendering its nodes."""
    context = Context(data, autoescape=autoescape)
    with context.render_context.push_state(template), context.bind_template(template):
        context.template_name = template.name
        yield context


@dataclass(frozen=True)
class Field:
    expression: str


@dataclass(frozen=True)
class Slot:
    """Where merge field ``key`` goes in a body."""

    key: str


def join_parts(parts: list[str | Slot], fill: Callable[[str], str]) -> str:
    """A body with each slot filled: ``fill`` gives the ESP's field syntax, or a recipient's value."""
    return "".join(part if isinstance(part, str) else fill(part.key) for part in parts)


@dataclass(frozen=True)
class SplitTemplate:
    """A template's top-level nodes, each static or a merge field (by key)."""

    template: Template
    nodes: tuple[Node, ...]
    keys: tuple[str | None, ...]
    autoescape: bool

    def static_parts(self, constants: dict) -> list[str | Field]:
        """Rendered static text, with a Field where each merge field goes."""
        parts: list[str | Field] = []
        with _bound(self.template, dict(constants), autoescape=self.autoescape) as context:
            for node, key in zip(self.nodes, self.keys, strict=True):
                parts.append(str(node.render_annotated(context)) if key is None else Field(key))
        return parts

    def values(self, data: dict) -> dict[str, str]:
        with _bound(self.template, data, autoescape=self.autoescape) as context:
            return {
                key: str(node.render_annotated(context))
                for node, key in zip(self.nodes, self.keys, strict=True)
                if key is not None
            }


def split_template(template: Template, *, autoescape: bool) -> SplitTemplate:
    nodes = tuple(template.nodelist)
    return SplitTemplate(
        template=template,
        nodes=nodes,
        keys=tuple(_field_key(node) for node in nodes),
        autoescape=autoescape,
    )


@dataclass(frozen=True)
class MergeBodies:
    """The HTML and text parts and the subject of one campaign, split for ESP merge fields.

    Field keys are short and stable ("v0", "v1", ...): the same expression in the same
    escaping mode shares a key (the subject and the text part, both unescaped, share theirs);
    the HTML and the text part never share one.
    """

    html: SplitTemplate
    text: SplitTemplate
    subject: SplitTemplate
    names: dict[tuple[bool, str], str]  # (autoescape, expression) -> "v<n>"
    constants: dict

    def _key(self, part: SplitTemplate, expression: str) -> str:
        return self.names[(part.autoescape, expression)]

    def parts(self) -> tuple[list[str | Slot], list[str | Slot]]:
        """The HTML and text bodies for the active language: static text and merge slots."""
        return self._parts(self.html), self._parts(self.text)

    def subject_parts(self) -> list[str | Slot]:
        """The subject for the active language: static text and merge slots (before one_line)."""
        return self._parts(self.subject)

    def _parts(self, part: SplitTemplate) -> list[str | Slot]:
        pieces = part.static_parts(self.constants)
        return [
            piece if isinstance(piece, str) else Slot(self._key(part, piece.expression)) for piece in pieces
        ]

    def values(self, variables: dict, *, text_only: bool = False) -> dict[str, str]:
        """One recipient's merge values, for the active language (filters may localise)."""
        data = {**self.constants, **variables}
        values = {self._key(self.text, expr): value for expr, value in self.text.values(data).items()}
        values |= {self._key(self.subject, expr): value for expr, value in self.subject.values(data).items()}
        if not text_only:
            values |= {self._key(self.html, expr): value for expr, value in self.html.values(data).items()}
        return values


class VersionedMergeBodies:
    """Each language's MergeBodies, with MergeBodies' interface for the active language (an ESP
    batch is one call per language; its entries and message are made with that language active)."""

    def __init__(self, by_language: dict[str, MergeBodies], *, default_language: str):
        self.by_language = by_language
        self.default_language = default_language

    def _active(self) -> MergeBodies:
        language = translation.get_language() or self.default_language
        return self.by_language.get(language, self.by_language[self.default_language])

    def parts(self) -> tuple[list[str | Slot], list[str | Slot]]:
        return self._active().parts()

    def subject_parts(self) -> list[str | Slot]:
        return self._active().subject_parts()

    def values(self, variables: dict, *, text_only: bool = False) -> dict[str, str]:
        return self._active().values(variables, text_only=text_only)


def split_campaign(
    compiled: CompiledCampaign | VersionedCompiled,
) -> MergeBodies | VersionedMergeBodies | None:
    """None when some node needs recipient data in a way merge fields cannot express (in any version)."""
    if isinstance(compiled, VersionedCompiled):
        split: dict[str, MergeBodies] = {}
        for language, version in compiled.by_language.items():
            bodies = split_campaign(version)
            if bodies is None:
                return None
            split[language] = bodies
        return VersionedMergeBodies(split, default_language=compiled.default_language)
    try:
        html = split_template(compiled.html_template, autoescape=True)
        text = split_template(compiled.text_template, autoescape=False)
        subject = split_template(compiled.subject_template, autoescape=False)
    except NotBatchable:
        return None
    names: dict[tuple[bool, str], str] = {}
    for part in (html, text, subject):
        for key in part.keys:
            if key is not None:
                names.setdefault((part.autoescape, key), f"v{len(names)}")
    return MergeBodies(html=html, text=text, subject=subject, names=names, constants=compiled.constants)
