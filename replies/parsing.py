"""Turning raw bytes into what the pipeline and the inbox need, without ever crashing on bad mail.

Stdlib `email` with policy.default (but parsing each header once). Real mail has broken
charsets, unknown encodings and malformed headers: every access here falls back to a
lossy-but-readable value instead of raising. Text prefers text/plain and falls back to the HTML
as plain text (nh3 drops scripts, styles and non-web links, inscriptis lays it out); quotes
and signatures are stripped by replies.quotes; HTML for display is sanitised with nh3.

Hostile mail is bounded here, while the raw bytes stay stored as they came: a header value
is parsed from its first HEADER_VALUE_MAX_CHARS characters (References and In-Reply-To keep
their first and last Message-IDs, as RFC 5322 asks of a trimmed References), the lists taken
from headers are capped (MAX_REFERENCES, MAX_RECIPIENTS), MIME nesting deeper than
MAX_MIME_DEPTH (or parts beyond MAX_MIME_PARTS) is kept as readable text instead of being
parsed (the stdlib parser recurses once per level and raised RecursionError at ~1,000), and
at most MAX_ATTACHMENTS attachments are taken. Every text value comes out of here through
rundbrief.mail.text.safe_text (no NUL, no lone surrogates), so it fits its column.
"""

from __future__ import annotations

import binascii
import logging
import re
from dataclasses import dataclass, field
from email.feedparser import FeedParser
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.policy import EmailPolicy
from email.utils import getaddresses, parseaddr
from functools import cached_property, lru_cache

import lxml.html
import nh3
from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

from replies.quotes import strip_quotes_and_signature
from rundbrief.mail.text import safe_text

logger = logging.getLogger(__name__)

_MSGID = re.compile(r"<[^<>\s]+>")
_LINESEP = re.compile(r"\n|\r")

# Bounds of what is parsed out of one message (the raw bytes are always stored whole). The
# stdlib header parser is superlinear: 50,000 References took 9 s, 5,000 recipients 3 s.
HEADER_VALUE_MAX_CHARS = 8192
MAX_REFERENCES = 50  # the first and the 49 last: the thread's root and the nearest ancestors
MAX_RECIPIENTS = 100
MAX_MIME_DEPTH = 50
MAX_MIME_PARTS = 1000
MAX_ATTACHMENTS = 100
# The text and HTML kept for the inbox (the whole message stays downloadable as it came), and
# how much of the text quote stripping reads (mail-parser-reply took 30 s for 24 MB of text).
MAX_TEXT_CHARS = 1_000_000
MAX_STRIP_CHARS = 100_000
MAX_STRIP_LINE_CHARS = 5000
_LONG_LINE = re.compile(rf"[^\n]{{{MAX_STRIP_LINE_CHARS + 1}}}")
_FEED_CHARS = 1 << 16
# Parsed header values shorter than this are cached (a cache of big ones would hold megabytes).
_CACHED_VALUE_MAX_CHARS = 1024
_TRIMMED_IDS = ("references", "in-reply-to")


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

    def header_all(self, name: str) -> list[str]:
        return safe_header_all(self.message, name)

    @property
    def content_type(self) -> str:
        return self.message.get_content_type()

    @cached_property
    def stripped_text(self) -> str:
        text = self.text[:MAX_STRIP_CHARS]
        if _LONG_LINE.search(text):
            # Quote stripping takes time growing with the square of a line's length (100,000
            # characters on one line: ~150 s); quoted history is made of ordinary lines, so
            # such a text is kept whole rather than stripped.
            return text.strip()
        return strip_quotes_and_signature(text)


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
        value = bounded_value(name, _LINESEP.sub("", value))  # unfolded as the stdlib does
        if len(value) > _CACHED_VALUE_MAX_CHARS:
            return _REGISTRY(name, value)
        return _parsed_header(name, value)


POLICY = _CachingPolicy(header_factory=_REGISTRY)


def bounded_value(name: str, value: str) -> str:
    """A header value cut to HEADER_VALUE_MAX_CHARS: at a list separator or a space where
    there is one; References/In-Reply-To keep their first and last Message-IDs."""
    if len(value) <= HEADER_VALUE_MAX_CHARS:
        return value
    if name.lower() in _TRIMMED_IDS:
        ids = message_ids(value)
        kept = ids[:1] + ids[1:][-(MAX_REFERENCES - 1) :]
        bounded = " ".join(kept)
        if len(bounded) <= HEADER_VALUE_MAX_CHARS:
            return bounded
    cut = value[:HEADER_VALUE_MAX_CHARS]
    for separator in (",", " "):
        at = cut.rfind(separator)
        if at > HEADER_VALUE_MAX_CHARS // 2:
            return cut[:at]
    return cut


class _OpaquePart(EmailMessage):
    """A MIME part past MAX_MIME_DEPTH or MAX_MIME_PARTS: its content, structure included, is
    kept as plain text (readable in the raw message view) instead of being parsed further."""

    def get_content_type(self) -> str:
        return "text/plain"

    def get_content_maintype(self) -> str:
        return "text"

    def get_content_subtype(self) -> str:
        return "plain"

    def get_filename(self, failobj: object = None) -> object:
        return failobj

    def get_content_disposition(self) -> str | None:
        return "inline"


class _BoundedFeedParser(FeedParser):
    """The stdlib parser, but parts nested deeper than MAX_MIME_DEPTH (or beyond MAX_MIME_PARTS)
    are not parsed as MIME: the stdlib recurses once per level (RecursionError at ~1,000), and
    resumes every level's generator for each line (time grows with depth times length)."""

    def __init__(self) -> None:
        self.parts = 0
        super().__init__(_factory=self._make_part, policy=POLICY)
        self.parts = 0  # FeedParser made one part to try the factory
        self.flattened = False

    def _make_part(self, policy: EmailPolicy) -> Message:
        depth = len(getattr(self, "_msgstack", ()))  # the parent chain of the part being made
        self.parts += 1
        if depth >= MAX_MIME_DEPTH or self.parts > MAX_MIME_PARTS:
            self.flattened = True
            return _OpaquePart(policy=policy)
        return EmailMessage(policy=policy)


def parse_bytes(raw: bytes | bytearray) -> Message:
    parser = _BoundedFeedParser()
    # As email.message_from_bytes does: bytes that are not ASCII travel as surrogate escapes;
    # in pieces, so that the parser never holds a second copy of the whole message.
    for start in range(0, len(raw), _FEED_CHARS):
        parser.feed(raw[start : start + _FEED_CHARS].decode("ascii", errors="surrogateescape"))
    message = parser.close()
    if parser.flattened:
        logger.warning(
            "MIME structure beyond %d levels or %d parts kept as text", MAX_MIME_DEPTH, MAX_MIME_PARTS
        )
    return message


def safe_header(message: Message, name: str) -> str:
    """A header as safe text; a header the parser chokes on comes back unparsed instead of raising."""
    try:
        value = message.get(name)
        return "" if value is None else safe_text(str(value).strip())
    except Exception:  # noqa: BLE001 - malformed headers must never stop processing
        for key, value in message.raw_items():
            if key.lower() == name.lower():
                return safe_text(bounded_value(name, str(value)).strip())
        return ""


def safe_header_all(message: Message, name: str) -> list[str]:
    try:
        return [safe_text(str(v).strip()) for v in message.get_all(name, [])]
    except Exception:  # noqa: BLE001
        return [
            safe_text(bounded_value(name, str(v)).strip())
            for k, v in message.raw_items()
            if k.lower() == name.lower()
        ]


def message_ids(value: str) -> list[str]:
    """Message-IDs in a header, with their angle brackets, in order."""
    return _MSGID.findall(value or "")


def addresses(values: list[str], limit: int = MAX_RECIPIENTS) -> list[str]:
    """The distinct addresses in address headers, in order, at most `limit`."""
    found: dict[str, None] = {}
    for _name, addr in getaddresses(values):
        addr = addr.strip().lower()
        if "@" in addr:
            found[addr] = None
            if len(found) >= limit:
                break
    return list(found)


def trimmed_ids(ids: list[str], limit: int = MAX_REFERENCES) -> list[str]:
    """The first and the last Message-IDs of a References list, at most `limit` in all."""
    return ids if len(ids) <= limit else ids[:1] + ids[-(limit - 1) :]


_WIDE_CHARSETS = re.compile(r"^(utf|ucs)-?(16|32|2|4)", re.I)


def part_text(part: Message) -> str:
    """The decoded text of a MIME part, safe for a text column (no NUL, no lone surrogates);
    unknown or lying charsets are decoded leniently."""
    return safe_text(_decoded_text(part))


def _decoded_text(part: Message) -> str:
    charset = part.get_content_charset() or "utf-8"
    if _WIDE_CHARSETS.match(charset):
        return _wide_text(part, charset)
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except Exception:  # noqa: BLE001 - LookupError, UnicodeError, malformed base64 ...
        pass
    return _decode_payload(part, charset)


def _decode_payload(part: Message, charset: str) -> str:
    payload = part.get_payload(decode=True) or b""
    if isinstance(payload, str):
        return payload
    for candidate in (charset, "utf-8"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", errors="replace")


def _wide_text(part: Message, charset: str) -> str:
    """A part labelled UTF-16/32: real UTF-16 text of any script with spaces or line breaks
    has NUL bytes; bytes without one that are valid UTF-8 are UTF-8 under a wrong label
    (decoded as UTF-16 they are CJK-looking noise and lone surrogates)."""
    payload = part.get_payload(decode=True) or b""
    if isinstance(payload, str):
        return payload
    if b"\x00" not in payload:
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
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
        content_type = safe_text(part.get_content_type(), 255)
        try:
            disposition = part.get_content_disposition()
            filename = part.get_filename()
        except Exception:  # noqa: BLE001
            disposition, filename = None, None
        if disposition == "attachment" or (filename and not content_type.startswith("text/")):
            if len(attachments) >= MAX_ATTACHMENTS:
                continue  # kept in the raw message
            payload = _attachment_bytes(part)
            name = safe_text(filename or "", 255).strip() or "attachment"
            attachments.append(ParsedAttachment(name, content_type, payload))
            _let_go(part)
        elif content_type == "text/plain" and not text:
            _keep_only_the_start(part)
            text = part_text(part)[:MAX_TEXT_CHARS]
            _let_go(part)
        elif content_type == "text/html" and not html:
            _keep_only_the_start(part)
            html = part_text(part)[:MAX_TEXT_CHARS]
            _let_go(part)
        elif content_type in ("message/delivery-status", "text/rfc822-headers"):
            continue
        elif content_type.startswith("multipart/") and not text:
            # Declared multipart without a boundary the parser could find (real clients send such
            # mail): the stdlib keeps the body as one leaf, which is the person's text.
            text = _undivided_multipart_text(part)
    return text, html, attachments


def _undivided_multipart_text(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    try:
        charset = part.get_content_charset() or "utf-8"
        decoded = payload.decode(charset, "replace")
    except (LookupError, ValueError):
        decoded = payload.decode("utf-8", "replace")
    return safe_text(decoded)[:MAX_TEXT_CHARS]


_BIG_PAYLOAD_CHARS = 1 << 20


def _keep_only_the_start(part: Message) -> None:
    """Cut a text part's encoded payload to what can decode to MAX_TEXT_CHARS characters
    (four bytes per character at most), at a line break: decoding 24 MB of text to keep the
    first million characters held it three times over."""
    payload = part.get_payload()
    limit = MAX_TEXT_CHARS * 4
    if isinstance(payload, str) and len(payload) > limit + _BIG_PAYLOAD_CHARS:
        cut = payload.rfind("\n", 0, limit)
        part.set_payload(payload[: cut + 1 if cut > 0 else limit])


def _attachment_bytes(part: Message) -> bytes:
    """A leaf part's decoded content. Base64 is decoded in one C call (the stdlib first splits
    the text into lines and joins them again: three more copies of a 24 MB attachment)."""
    payload = part.get_payload()
    if isinstance(payload, str) and part.get("Content-Transfer-Encoding", "").strip().lower() == "base64":
        try:
            return binascii.a2b_base64(payload)
        except (binascii.Error, ValueError):  # bad padding, non-ASCII: the stdlib is more lenient
            pass
    decoded = part.get_payload(decode=True) or b""
    return decoded.encode("utf-8", "surrogateescape") if isinstance(decoded, str) else decoded


def _let_go(part: Message) -> None:
    """Empty a big leaf part once its content is taken out (into the text, the HTML or an
    attachment): the parsed tree keeps headers and structure for the rules, and a worker does
    not hold a 24 MB body twice. The whole message stays stored as it came."""
    payload = part.get_payload()
    if isinstance(payload, str) and len(payload) > _BIG_PAYLOAD_CHARS:
        part.set_payload("")


def parse_mail(raw: bytes | bytearray, envelope_to: list[str] | tuple[str, ...] = ()) -> ParsedMail:
    message = parse_bytes(raw)
    text, html, attachments = _walk_bodies(message)
    text, html = text[:MAX_TEXT_CHARS], html[:MAX_TEXT_CHARS]
    if not text.strip() and html:
        text = safe_text(html_to_text(html))
    from_name, from_address = parseaddr(safe_header(message, "From"))
    # The envelope first: it names the reply address even when the headers list thousands.
    recipient_headers = [safe_text(address, 998) for address in envelope_to][:MAX_RECIPIENTS]
    for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"):
        recipient_headers.extend(safe_header_all(message, name)[:MAX_RECIPIENTS])
    recipients = addresses(recipient_headers)
    msgid = message_ids(safe_header(message, "Message-ID"))
    return ParsedMail(
        message=message,
        message_id=msgid[0] if msgid else "",
        subject=safe_header(message, "Subject"),
        from_address=from_address.strip().lower(),
        from_name=from_name.strip(),
        recipients=recipients,
        in_reply_to=trimmed_ids(message_ids(safe_header(message, "In-Reply-To"))),
        references=trimmed_ids(message_ids(" ".join(safe_header_all(message, "References")))),
        text=text.replace("\r\n", "\n"),
        html=html,
        attachments=attachments,
    )
