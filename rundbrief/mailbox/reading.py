"""Reading captured mail: the parts and headers the mailbox pages show."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

_HEAD = re.compile(r"<head[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass
class ReadableMail:
    message: EmailMessage
    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)

    def header(self, name: str) -> str:
        return str(self.message.get(name, "") or "")

    @property
    def reply_to(self) -> str:
        """Where an answer goes: Reply-To when set, else From (RFC 5322 section 3.6.2)."""
        for name in ("Reply-To", "From"):
            addresses = [addr for _, addr in getaddresses([self.header(name)]) if addr]
            if addresses:
                return addresses[0]
        return ""

    @property
    def subject(self) -> str:
        return self.header("Subject")

    @property
    def from_header(self) -> str:
        return self.header("From")

    @property
    def from_address(self) -> str:
        return parseaddr(self.header("From"))[1]


def read_mail(raw: bytes) -> ReadableMail:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    readable = ReadableMail(message=message, headers=[(k, str(v)) for k, v in message.items()])
    readable.text = _part_content(message, "plain")
    readable.html = _part_content(message, "html")
    readable.attachments = [
        Attachment(
            filename=part.get_filename() or "",
            content_type=part.get_content_type(),
            size=len(part.get_payload(decode=True) or b""),
        )
        for part in message.iter_attachments()
    ]
    return readable


def _part_content(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return ""
    try:
        return part.get_content()
    except (LookupError, UnicodeDecodeError):
        # An unknown or lying charset must not hide the mail: show what can be decoded.
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def html_for_preview(html: str) -> str:
    """HTML for a sandboxed iframe: every link opens in a new tab, outside the sandbox."""
    base = '<base target="_blank">'
    if _HEAD.search(html):
        return _HEAD.sub(lambda m: m.group(0) + base, html, count=1)
    return base + html
