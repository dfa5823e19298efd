"""The media library's rules: which files are images we send, and where mail clients fetch them.

An upload is recognised by its first bytes (PNG, JPEG, GIF, WebP), never by its name or the
browser's content type; SVG is refused (it can carry scripts). Stored under a random name in the
default storage (MEDIA_ROOT, or any Django storage), served publicly by views.image only for
files the library recorded, so no other stored file (inbound attachments) can be reached.
"""

from __future__ import annotations

from rundbrief.links import link_url

MAX_IMAGE_BYTES = 5 * 1024 * 1024
# (first bytes, content type, extension)
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of an image we accept, from its first bytes; None otherwise."""
    for signature, content_type, extension in SIGNATURES:
        if head.startswith(signature):
            return content_type, extension
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def absolute_url(file_name: str) -> str:
    """The URL to put in a campaign (<mj-image src="...">): absolute, as mail needs."""
    return link_url("campaigns:image", [file_name])
