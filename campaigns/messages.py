"""Per-recipient campaign messages, built by a factory prepared once per campaign.

Building a MIME message with the stdlib costs 1–4 ms; most of it is invariant per campaign.
So the factory encodes the invariant headers once, and, for the usual campaign whose
recipient data are plain ``{{ … }}`` values, renders and quoted-printable-encodes the static
text once per language (campaigns.merge, campaigns.qp). Per recipient it then renders the
values and splices bytes: about 0.1 ms a mail. The transports that hand the mails over
live in the mail layer (rundbrief.mail.transports).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr, formatdate, parseaddr

from django.conf import settings
from django.core.signing import b62_encode
from django.template.base import Variable, VariableNode
from django.template.defaultfilters import default as default_filter
from django.utils import translation
from django.utils.html import conditional_escape

from campaigns import abtest, qp
from campaigns.merge import (
    MergeBodies,
    NotBatchable,
    Slot,
    SplitTemplate,
    join_parts,
    split_campaign,
    split_template,
)
from campaigns.models import Campaign
from campaigns.rendering import HEADLINES, CompiledCampaign, RenderedMail, VersionedCompiled, compile_campaign
from campaigns.sampling import B
from campaigns.versions import Content, content_for, contents, languages
from dialogue import links as dialogue_links
from replies import interface as replies
from rundbrief.links import path_around_token
from rundbrief.mail.addresses import REPLY, return_path
from rundbrief.mail.headers import clean_header, encode_header
from rundbrief.mail.transports.base import OutgoingMail
from subscribers import tokens as subscriber_tokens
from subscribers.tokens import PREFERENCES, UNSUBSCRIBE


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    message_id: str
    reply_token: str
    subscriber_id: int
    email: str
    name: str
    language: str
    text_only: bool
    # Where the mail goes when that is not the subscriber's own address (a test send).
    address: str = ""
    # An A/B test's variant ("a", "b"; the delivery's): "b" gets variant B of its version.
    variant: str = ""

    @property
    def to_address(self) -> str:
        return self.address or self.email


class _Signer:
    """``django.core.signing.TimestampSigner(salt=salt).sign(value)``, byte for byte, with the HMAC
    key derived once: a new Signer derives it (a SHA-256 of salt and key) for every token, and a
    campaign mail carries three (tests/campaigns/test_messages_tokens.py checks the equality)."""

    def __init__(self, salt: str) -> None:
        key = hashlib.sha256((salt + "signer" + settings.SECRET_KEY).encode()).digest()
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)

    def sign(self, value: str) -> str:
        value = f"{value}:{b62_encode(int(time.time()))}"
        mac = self._hmac.copy()
        mac.update(value.encode())
        return f"{value}:{base64.urlsafe_b64encode(mac.digest()).strip(b'=').decode()}"

    def sign_json(self, data: str) -> str:
        """``signing.dumps(obj, salt=salt, compress=True)`` of the object whose compact JSON is ``data``."""
        raw = data.encode("latin-1")
        compressed = zlib.compress(raw)
        if len(compressed) < len(raw) - 1:
            return self.sign("." + base64.urlsafe_b64encode(compressed).strip(b"=").decode())
        return self.sign(base64.urlsafe_b64encode(raw).strip(b"=").decode())


# A plain merge field: its value key ("v<n>"), the lookup path ("subscriber", "name"), whether
# it is HTML-escaped, whether only the HTML part has it, and its |default:"…" text (or None).
_Lookup = tuple[str, tuple[str, ...], bool, bool, str | None]
_MISSING = object()


def _plain_lookups(bodies: MergeBodies | None) -> list[_Lookup] | None:
    """The merge fields as dictionary lookups, when every one is a plain ``{{ a.b }}`` or
    ``{{ a.b|default:"text" }}``; else None.

    Such a field renders (VariableNode, render_value_in_context) as the looked-up string (or,
    if empty, the default's literal, which the template engine marks safe), conditionally
    escaped in HTML: the same string without a template Context per recipient.
    """
    if bodies is None:
        return None
    lookups: list[_Lookup] = []
    parts: list[tuple[SplitTemplate, bool]] = [
        (bodies.text, False),
        (bodies.subject, False),
        (bodies.html, True),
    ]
    seen: set[str] = set()
    for part, html_only in parts:
        for node, expression in zip(part.nodes, part.keys, strict=True):
            if expression is None:
                continue
            if not isinstance(node, VariableNode):
                return None
            variable = node.filter_expression.var
            filters = node.filter_expression.filters
            fallback = None
            if len(filters) == 1 and filters[0][0] is default_filter and len(filters[0][1]) == 1:
                [(is_lookup, fallback)] = filters[0][1]
                if is_lookup or not isinstance(fallback, str):
                    return None
                filters = []
            if (
                filters
                or not isinstance(variable, Variable)
                or variable.lookups is None
                or variable.translate
            ):
                return None
            key = bodies.names[(part.autoescape, expression)]
            if key not in seen:
                seen.add(key)
                lookups.append((key, tuple(variable.lookups), part.autoescape, html_only, fallback))
    return lookups


def _recipient_free(compiled: CompiledCampaign) -> bool:
    """Subject and preheader use no recipient data: rendered once per language, like the bodies'
    static text (campaigns.merge decides what is recipient data)."""
    try:
        parts = [
            split_template(t, autoescape=False)
            for t in (compiled.subject_template, compiled.preheader_template)
        ]
    except NotBatchable:
        return False
    return all(key is None for part in parts for key in part.keys)


def _url_around_token(name: str) -> tuple[str, str]:
    before, after = path_around_token(name)
    return settings.SITE_URL + before, after


def _merged(parts: list[str | Slot]) -> list[str | Slot]:
    """Adjacent static strings joined: fewer pieces, and no break between two of them."""
    merged: list[str | Slot] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def _encoded(parts: list[str | Slot]) -> list[bytes | Slot] | None:
    """Static pieces encoded once; None if one ends in a CR a value's LF could complete."""
    if any(isinstance(part, str) and part.endswith("\r") for part in parts):
        return None
    return [qp.encode_piece(part) if isinstance(part, str) else part for part in parts]


@dataclass(frozen=True)
class _StaticBodies:
    """One language's static text of both parts, plain and quoted-printable encoded."""

    html: list[str | Slot]
    text: list[str | Slot]
    html_qp: list[bytes | Slot] | None
    text_qp: list[bytes | Slot] | None

    @classmethod
    def of(cls, html: list[str | Slot], text: list[str | Slot]) -> _StaticBodies:
        html, text = _merged(html), _merged(text)
        return cls(html=html, text=text, html_qp=_encoded(html), text_qp=_encoded(text))

    def encoded_html(self, values: dict[str, str]) -> bytes | None:
        return self._join(self.html_qp, values)

    def encoded_text(self, values: dict[str, str]) -> bytes | None:
        return self._join(self.text_qp, values)

    @staticmethod
    def _join(pieces: list[bytes | Slot] | None, values: dict[str, str]) -> bytes | None:
        """None (encode the whole instead) when a value holds a CR, which could pair with a neighbour."""
        if pieces is None:
            return None
        out = []
        for piece in pieces:
            if isinstance(piece, bytes):
                out.append(piece)
            else:
                value = values[piece.key]
                if "\r" in value:
                    return None
                out.append(qp.encode_piece(value))
        return b"".join(out)


class MessageFactory:
    """Everything invariant for one campaign, prepared once per worker process."""

    single_variant = True  # one content for every recipient (CampaignMessages: unless an A/B test)

    def __init__(
        self,
        *,
        compiled: CompiledCampaign,
        campaign_id: int,
        subject: str,
        from_name: str,
        list_name: str,
        list_slug: str,
        topic_slugs: tuple[str, ...],
        subject_prefix: str = "",
        links: dict[str, str] | None = None,
    ):
        self.compiled = compiled
        # Most campaigns use recipient data only as plain {{ … }} values: their static text
        # (layout, footer, {% translate %}) is then rendered once per language and only the
        # values per recipient, which is the same string as a full render (campaigns.merge).
        self._bodies = split_campaign(compiled)
        self._static: dict[str, _StaticBodies] = {}
        self._lookups = _plain_lookups(self._bodies)
        self._headlines: dict[str, dict[str, str]] | None = {} if _recipient_free(compiled) else None
        self.campaign_id = campaign_id
        self.topic_slugs = topic_slugs
        name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
        self.envelope_from = address
        self.from_header = formataddr((clean_header(from_name or name), address), charset="utf-8")
        # The subject is a template (campaigns.rendering): rendered per recipient, behind this prefix.
        self.subject_prefix = subject_prefix
        # A test's footer links (campaigns.testmail) instead of each recipient's signed ones.
        self.links = links
        self.list_id = f"{encode_header(list_name)} <{list_slug}.{settings.LIST_ID_DOMAIN}>"
        # Gmail's Feedback-ID: campaign:topic:kind:sender, lets complaint rates be told apart.
        self.feedback_id = f"{campaign_id}:{list_slug}:newsletter:rundbrief"
        self.boundary = "=_rb_" + secrets.token_hex(12)
        self._preferences_url = _url_around_token("subscribers:preferences")
        self._unsubscribe_url = _url_around_token("subscribers:unsubscribe")
        # The three signed links of every mail (subscribers.tokens.make_token for preferences and
        # unsubscribe, dialogue.links.mail_links for the web view), signed with keys derived once.
        self._preferences_signer = _Signer(subscriber_tokens.SALT_PREFIX + PREFERENCES)
        self._unsubscribe_signer = _Signer(subscriber_tokens.SALT_PREFIX + UNSUBSCRIBE)
        self._mail_signer = _Signer(dialogue_links.SALT_PREFIX + dialogue_links.MAIL)
        # make_token's payload {"s": …, "t": sorted topics, "c": campaign} as compact JSON.
        self._unsubscribe_json = (
            ',"t":' + json.dumps(sorted(topic_slugs), separators=(",", ":")) if topic_slugs else ""
        ) + f',"c":{campaign_id}}}'
        self._web_url = _url_around_token("dialogue:web_view")
        self._talk_url = _url_around_token("dialogue:about_mail")
        self.common_headers = {
            "List-Id": self.list_id,
            "Feedback-ID": self.feedback_id,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058
        }
        self._fixed = (
            f"From: {self.from_header}\r\n"
            + "".join(f"{key}: {value}\r\n" for key, value in self.common_headers.items())
            + "MIME-Version: 1.0\r\n"
        ).encode()
        self._alternative = (
            f'Content-Type: multipart/alternative; boundary="{self.boundary}"\r\n\r\n'
            f"--{self.boundary}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self._html_part = (
            f"\r\n--{self.boundary}\r\n"
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self._end = f"\r\n--{self.boundary}--\r\n".encode()
        self._text_only = (
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        )

    def variables(self, recipient: Recipient) -> dict:
        # Same URLs as subscribers.tokens.preferences_url/unsubscribe_url, with the reverse()
        # done once per campaign: signed tokens are URL-safe, so splicing them in is exact.
        variables = {"subscriber": {"name": recipient.name, "email": recipient.email}}
        if self.links is not None:
            variables |= self.links
        else:
            subscriber_id = int(recipient.subscriber_id)
            preferences = self._preferences_signer.sign_json(f'{{"s":{subscriber_id}}}')
            unsubscribe = self._unsubscribe_signer.sign_json(
                f'{{"s":{subscriber_id}' + self._unsubscribe_json
            )
            mail = self._mail_signer.sign(
                f"{subscriber_id}.{self.campaign_id}"
            )  # web view, write in the browser
            variables["preferences_url"] = self._preferences_url[0] + preferences + self._preferences_url[1]
            variables["unsubscribe_url"] = self._unsubscribe_url[0] + unsubscribe + self._unsubscribe_url[1]
            variables["web_url"] = self._web_url[0] + mail + self._web_url[1]
            variables["talk_url"] = self._talk_url[0] + mail + self._talk_url[1]
        # Subject and preheader in the recipient's language, like the bodies that show them.
        if recipient.language != translation.get_language():
            with translation.override(recipient.language):
                return variables | self._headlines_for(variables)
        return variables | self._headlines_for(variables)

    def _headlines_for(self, variables: dict) -> dict[str, str]:
        if self._headlines is None:
            return self.compiled.headlines(variables)
        language = translation.get_language()
        headlines = self._headlines.get(language)
        if headlines is None:
            headlines = self._headlines[language] = self.compiled.headlines(variables)
        return headlines

    def subject(self, variables: dict) -> str:
        """The Subject header's text for the recipient these variables are for."""
        return self.subject_prefix + variables["subject"]

    def recipient_headers(self, recipient: Recipient, variables: dict) -> dict[str, str]:
        """The headers that differ per recipient (the rest are ``common_headers``)."""
        return {
            "Message-ID": recipient.message_id,
            "Reply-To": REPLY.address(recipient.reply_token),
            "List-Unsubscribe": f"<{variables['unsubscribe_url']}>",
        }

    def render(self, recipient: Recipient, variables: dict) -> RenderedMail:
        """This recipient's bodies; callers sending many mails activate each language once."""
        return self._render_encoded(recipient, variables)[0]

    def _render_encoded(self, recipient: Recipient, variables: dict) -> tuple[RenderedMail, bytes, bytes]:
        """The bodies, and their text and HTML parts quoted-printable encoded (HTML b"" if text only)."""
        if self._bodies is None:  # the template branches on recipient data: a full render each
            text_only = recipient.text_only
            rendered = self.compiled.render(variables, language=recipient.language, text_only=text_only)
            return rendered, qp.encode(rendered.text), b"" if text_only else qp.encode(rendered.html)
        if recipient.language != translation.get_language():
            with translation.override(recipient.language):
                return self._render_encoded(recipient, variables)
        language = translation.get_language()
        static = self._static.get(language)
        if static is None:
            static = self._static[language] = _StaticBodies.of(*self._bodies.parts())
        values = self._values(variables, text_only=recipient.text_only)
        text = join_parts(static.text, values.__getitem__)
        text_qp = static.encoded_text(values) or qp.encode(text)
        headlines = {name: variables[name] for name in HEADLINES}
        if recipient.text_only:
            return RenderedMail(html="", text=text, **headlines), text_qp, b""
        html = join_parts(static.html, values.__getitem__)
        html_qp = static.encoded_html(values) or qp.encode(html)
        return RenderedMail(html=html, text=text, **headlines), text_qp, html_qp

    def _values(self, variables: dict, *, text_only: bool) -> dict[str, str]:
        """The recipient's merge values: looked up directly when every field is a plain string
        lookup (the usual campaign), else rendered by the template nodes (campaigns.merge)."""
        if self._lookups is not None:
            constants = self._bodies.constants
            values = {}
            for key, path, escape, html_only, fallback in self._lookups:
                if html_only and text_only:
                    continue
                value = variables.get(path[0], _MISSING)
                if value is _MISSING:
                    value = constants.get(path[0], _MISSING)
                for bit in path[1:]:
                    value = value.get(bit, _MISSING) if type(value) is dict else _MISSING
                if not isinstance(value, str):  # missing, a number, a date, a callable: the template decides
                    break
                if fallback is not None and not value:
                    value = fallback
                values[key] = conditional_escape(value) if escape else value
            else:
                return values
        return self._bodies.values(variables, text_only=text_only)

    def build(self, recipient: Recipient) -> OutgoingMail:
        variables = self.variables(recipient)
        rendered, text_qp, html_qp = self._render_encoded(recipient, variables)
        headers = self.recipient_headers(recipient, variables)
        subject = self.subject(variables)
        varying = (
            f"Subject: {encode_header(subject)}\r\n"
            f"To: {formataddr((clean_header(recipient.name), recipient.to_address), charset='utf-8')}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            + "".join(f"{key}: {value}\r\n" for key, value in headers.items())
        ).encode()
        if recipient.text_only:
            body = self._text_only + text_qp
        else:
            body = self._alternative + text_qp + self._html_part + html_qp + self._end
        return OutgoingMail(
            to_address=recipient.to_address,
            to_name=recipient.name,
            message_id=recipient.message_id,
            raw=self._fixed + varying + body,
            subject=subject,
            from_header=self.from_header,
            html=rendered.html,
            text=rendered.text,
            headers={**headers, **self.common_headers},
            return_path=return_path(recipient.reply_token),
        )


def contact_name(campaign: Campaign) -> str:
    """The named person in the footer: the contact's staff display name, else the sender name."""
    if campaign.contact_id:
        return replies.staff_display_name(campaign.contact)
    return campaign.from_name


class CampaignMessages:
    """The campaign's mails in every language: one MessageFactory per language, picked by the
    recipient's language (their version, else the default one), with MessageFactory's interface.

    Each language's factory is built from the version its subscribers get (campaigns.versions)
    and names the list (List-Id) in that language; versions shared by several languages are
    compiled once. Body, subject and footer of a mail are then all in the recipient's language
    whenever a version in it exists (the footer always is).
    """

    def __init__(
        self,
        factories: dict[str, MessageFactory],
        *,
        default_language: str,
        served: dict[str, str],
        variant_b: dict[str, MessageFactory] | None = None,
    ):
        self.factories = factories
        # An A/B test's variant B, one factory per language like A's (campaigns.abtest).
        self.variant_b = variant_b or {}
        self.served = served  # language -> the language of the version it gets
        self.default_language = default_language
        self.default = factories[default_language]
        # The same for every language's factory.
        self.campaign_id = self.default.campaign_id
        self.topic_slugs = self.default.topic_slugs
        self.envelope_from = self.default.envelope_from
        self.from_header = self.default.from_header
        self.subject_prefix = self.default.subject_prefix
        self.links = self.default.links
        self.compiled = VersionedCompiled(
            {language: factory.compiled for language, factory in factories.items()},
            default_language=default_language,
        )

    def for_language(self, language: str) -> MessageFactory:
        return self.factories.get(language, self.default)

    def for_recipient(self, recipient: Recipient) -> MessageFactory:
        """The recipient's language's factory, of variant B if that is their delivery's."""
        if recipient.variant == B and self.variant_b:
            return self.variant_b.get(recipient.language, self.variant_b[self.default_language])
        return self.for_language(recipient.language)

    @property
    def single_variant(self) -> bool:
        """False for an A/B test: its mails are built one by one (an ESP batch holds one content)."""
        return not self.variant_b

    def _active(self) -> MessageFactory:
        """The factory of the active language: callers sending many mails activate each
        recipient's language before asking for what has no recipient (ESP batches)."""
        return self.for_language(translation.get_language() or self.default_language)

    @property
    def common_headers(self) -> dict[str, str]:
        return self._active().common_headers

    @property
    def list_id(self) -> str:
        return self._active().list_id

    @property
    def feedback_id(self) -> str:
        return self.default.feedback_id

    def variables(self, recipient: Recipient) -> dict:
        return self.for_recipient(recipient).variables(recipient)

    def subject(self, variables: dict) -> str:
        return self.subject_prefix + variables["subject"]

    def recipient_headers(self, recipient: Recipient, variables: dict) -> dict[str, str]:
        return self.for_recipient(recipient).recipient_headers(recipient, variables)

    def render(self, recipient: Recipient, variables: dict) -> RenderedMail:
        return self.for_recipient(recipient).render(recipient, variables)

    def build(self, recipient: Recipient) -> OutgoingMail:
        return self.for_recipient(recipient).build(recipient)

    def version_language(self, language: str) -> str:
        """The language of the version a recipient in ``language`` gets."""
        return self.served.get(language, self.default_language)


def build_factory(
    campaign: Campaign, *, subject_prefix: str = "", links: dict[str, str] | None = None
) -> CampaignMessages:
    """The campaign's messages in every language (raises CampaignRenderError for a broken version)."""
    topics = list(campaign.topics.order_by("pk"))
    first = topics[0] if topics else None
    versions = contents(campaign)
    compiled: dict[str, CompiledCampaign] = {}
    factories: dict[str, MessageFactory] = {}
    served: dict[str, str] = {}
    # An A/B test's variant B of each version (the version's own content where it has none yet:
    # the launch refuses that, so only a test send or preview can meet it).
    test = abtest.test_of(campaign)
    variants = abtest.variant_contents(campaign, test) if test is not None else {}
    compiled_b: dict[str, CompiledCampaign] = {}
    variant_b: dict[str, MessageFactory] = {}

    def factory(content: Content, compiled: CompiledCampaign, language: str) -> MessageFactory:
        return MessageFactory(
            compiled=compiled,
            campaign_id=campaign.pk,
            subject=content.subject,
            from_name=campaign.from_name,
            list_name=first.name_in(language) if first else campaign.name,
            list_slug=first.slug if first else f"campaign-{campaign.pk}",
            topic_slugs=tuple(t.slug for t in topics),
            subject_prefix=subject_prefix,
            links=links,
        )

    def compile_content(content: Content) -> CompiledCampaign:
        return compile_campaign(
            **content.fields(),
            contact_name=contact_name(campaign),
            campaign_name=campaign.name,
            letters_until=campaign.started_at,
        )

    for language in dict.fromkeys([*languages(), campaign.default_language]):
        content = content_for(campaign, language, versions=versions)
        if content.language not in compiled:
            compiled[content.language] = compile_content(content)
        factories[language] = factory(content, compiled[content.language], language)
        served[language] = content.language
        if test is not None:
            content_b = variants.get(content.language) or content
            if content.language not in compiled_b:
                compiled_b[content.language] = compile_content(content_b)
            variant_b[language] = factory(content_b, compiled_b[content.language], language)
    return CampaignMessages(
        factories, default_language=campaign.default_language, served=served, variant_b=variant_b
    )


# One compiled set of factories per campaign per worker process; a changed campaign is recompiled
# (saving a version saves its campaign, so updated_at says so).
_factories: dict[int, tuple[datetime, CampaignMessages]] = {}


def factory_for(campaign: Campaign) -> CampaignMessages:
    cached = _factories.get(campaign.pk)
    if cached and cached[0] == campaign.updated_at:
        return cached[1]
    factory = build_factory(campaign)
    _factories[campaign.pk] = (campaign.updated_at, factory)
    return factory
