"""Turning raw bytes into what the pipeline and the inbox need, without ever crashing on bad mail.

Stdlib `email` with policy.default (but parsing each header once). Real mail has broken
charsets, unknown encodings and malformed headers: every access here falls back to a
lossy-but-readable value instead of raising. Text prefers text/plain and falls back to the HTML
as plain text (nh3 drops scripts, styles and non-web links, inscriptis lays it out); quotes
and signatures are stripped by replies.quotes; HTML for display is sanitised with nh3.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.policy import EmailPolicy
from email.utils import getaddresses, parseaddr
from functools import cached_property, lru_cache

import lxml.html
import nh3
from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

from replies.quotes import strip_quotes_and_signature

_MSGID = re.compile(r"<[^<>\s]+>")
_LINESEP = re.compile(r"\n|\r")


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    payload: bytes


@dataclass
class ParsedMail:
    message: Message
    message_id: str = ""
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    recipients: list[str] = field(default_factory=list)
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    text: str = ""
    html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)

    def header(self, name: str) -> str:
        return safe_header(self.message, name)

    @property
    def content_type(self) -> str:
        return self.message.get_content_type()

    @cached_property
    def stripped_text(self) -> str:
        return strip_quotes_and_signature(self.text)


class _HeaderRegistry(HeaderRegistry):
    """The stdlib registry builds a new class on every lookup; this builds each one once."""

    def __init__(self) -> None:
        super().__init__()
        self._built: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        built = self._built.get(key)
        if built is None:
            built = self._built.setdefault(key, super().__getitem__(name))
        return built


_REGISTRY = _HeaderRegistry()


@lru_cache(maxsize=4096)
def _parsed_header(name: str, value: str) -> object:
    return _REGISTRY(name, value)


class _CachingPolicy(EmailPolicy):
    """policy.default, except that a header value is parsed once, not on every access.

    The stdlib parses a header again each time it is read (Content-Type alone some eight
    times per message); that was over a third of the cost of processing a reply. Parsed
    headers are immutable, so handing out the same one again is safe.
    """

    def header_fetch_parse(self, name: str, value: str) -> object:
        if hasattr(value, "name"):
            return value
        return _parsed_header(name, _LINESEP.sub("", value))  # as the stdlib does


POLICY = _CachingPolicy(header_factory=_REGISTRY)


def parse_bytes(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=POLICY)


def safe_header(message: Message, name: str) -> str:
    """A header as text; a header the parser chokes on comes back unparsed instead of raising."""
    try:
        value = message.get(name)
        return "" if value is None else str(value).strip()
    except Exception:  # noqa: BLE001 - malformed headers must never stop processing
        for key, value in message.raw_items():
            if key.lower() == name.lower():
                return str(value).strip()
        return ""


def safe_header_all(message: Message, name: str) -> list[str]:
    try:
        return [str(v).strip() for v in message.get_all(name, [])]
    except Exception:  # noqa: BLE001
        return [str(v).strip() for k, v in message.raw_items() if k.lower() == name.lower()]


def message_ids(value: str) -> list[str]:
    """Message-IDs in a header, with their angle brackets, in order."""
    return _MSGID.findall(value or "")


def addresses(values: list[str]) -> list[str]:
    found = []
    for _name, addr in getaddresses(values):
        addr = addr.strip().lower()
        if "@" in addr and addr not in found:
            found.append(addr)
    return found


def part_text(part: Message) -> str:
    """The decoded text of a MIME part; unknown or lying charsets are decoded leniently."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except Exception:  # noqa: BLE001 - LookupError, UnicodeError, malformed base64 ...
        pass
    payload = part.get_payload(decode=True) or b""
    if isinstance(payload, str):
        return payload
    charset = part.get_content_charset() or "utf-8"
    for candidate in (charset, "utf-8"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", errors="replace")


# Links that stay in the text of an HTML-only mail; javascript:, data:, file: ... keep only their words.
TEXT_LINK_SCHEMES = {"http", "https", "mailto"}
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """An HTML-only mail as readable plain text: no markup and no Markdown (`**bold**`), a link
    written as "words (https://...)", quoted parts as "> " lines (so quote stripping still works)."""
    if not html.strip():
        return ""
    safe = nh3.clean(html, attributes={"a": {"href"}}, url_schemes=TEXT_LINK_SCHEMES, link_rel=None)
    if not safe.strip():
        return ""
    try:
        document = lxml.html.document_fromstring(safe)
    except (lxml.etree.ParserError, ValueError):
        return ""
    for link in document.iter("a"):
        _write_link_target(link)
    # Innermost quotes first, so a quote inside a quote gets "> > ".
    for quote in reversed(list(document.iter("blockquote"))):
        tail, quote.tail = quote.tail, None
        block = lxml.html.Element("pre")
        block.text = "\n".join(f"> {line}".rstrip() for line in _layout(quote).splitlines()) + "\n"
        block.tail = tail
        quote.getparent().replace(quote, block)
    return _BLANK_LINES.sub("\n\n", _layout(document)).strip()


def _write_link_target(link) -> None:
    """<a href="https://x">words</a> -> "words (https://x)"; the bare address where the words are it."""
    href = (link.get("href") or "").strip()
    if not href or href.startswith("#"):
        return
    words = " ".join(link.text_content().split())
    shown = href.removeprefix("mailto:")
    if not words:
        link.text = shown
    elif words.rstrip("/") not in (href.rstrip("/"), shown.rstrip("/")):
        link.tail = f" ({shown}){link.tail or ''}"


def _layout(element) -> str:
    # The strict profile lays out as a browser does (the relaxed one indents every <div>).
    return Inscriptis(element, ParserConfig(css=CSS_PROFILES["strict"])).get_text().strip("\n")


def sanitise_html(html: str) -> str:
    """Outside HTML for the staff UI: scripts, styles, event handlers and remote images removed;
    only web and mail links kept (javascript:, data: ... are dropped), each opening in a new tab
    (the page shows it in an iframe sandboxed with allow-popups only, so a link cannot open in it)."""
    return nh3.clean(
        html,
        tags=nh3.ALLOWED_TAGS - {"img"},
        url_schemes=TEXT_LINK_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )


def _walk_bodies(message: Message) -> tuple[str, str, list[ParsedAttachment]]:
    text, html, attachments = "", "", []
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        try:
            disposition = part.get_content_disposition()
            filename = part.get_filename()
        except Exception:  # noqa: BLE001
            disposition, filename = None, None
        if disposition == "attachment" or (filename and not content_type.startswith("text/")):
            payload = part.get_payload(decode=True) or b""
            if isinstance(payload, str):
                payload = payload.encode()
            attachments.append(ParsedAttachment(filename or "attachment", content_type, payload))
        elif content_type == "text/plain" and not text:
            text = part_text(part)
        elif content_type == "text/html" and not html:
            html = part_text(part)
        elif content_type in ("message/delivery-status", "text/rfc822-headers"):
            continue
    return text, html, attachments


def parse_mail(raw: bytes, envelope_to: list[str] | tuple[str, ...] = ()) -> ParsedMail:
    message = parse_bytes(raw)
    text, html, attachments = _walk_bodies(message)
    if not text.strip() and html:
        text = html_to_text(html)
    from_name, from_address = parseaddr(safe_header(message, "From"))
    recipient_headers = []
    for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"):
        recipient_headers.extend(safe_header_all(message, name))
    recipients = addresses(recipient_headers + list(envelope_to))
    msgid = message_ids(safe_header(message, "Message-ID"))
    return ParsedMail(
        message=message,
        message_id=msgid[0] if msgid else "",
        subject=safe_header(message, "Subject"),
        from_address=from_address.strip().lower(),
        from_name=from_name.strip(),
        recipients=recipients,
        in_reply_to=message_ids(safe_header(message, "In-Reply-To")),
        references=message_ids(" ".join(safe_header_all(message, "References"))),
        text=text.replace("\r\n", "\n"),
        html=html,
        attachments=attachments,
    )
