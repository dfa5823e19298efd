"""Quoted-printable bodies (RFC 2045 6.7) that can be put together from pieces encoded apart.

A campaign body is mostly static text with a few recipient values in it. Encoding the
static pieces once per campaign and language, and per recipient only the values, saves
encoding ~10 kB per mail. It is exact because every piece ends with a line break: a hard
one where the text has it, otherwise a soft one ("=" CRLF), which decoders remove. So the
decoded body is the pieces' texts joined, and no encoded line grows beyond 76 characters.
"""

from __future__ import annotations

import binascii

MAX_LINE = 76  # characters per encoded line, without the CRLF


def encode(text: str) -> bytes:
    """A whole body: UTF-8, quoted-printable, CRLF line breaks."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(normalised, istext=True).replace(b"\n", b"\r\n")


def encode_piece(text: str) -> bytes:
    """A piece that another piece may follow: it ends with a hard or a soft line break.

    Only for text without a carriage return: joining pieces must not split a CRLF, which
    ``encode`` turns into one line break (callers fall back to ``encode`` on the whole).
    """
    encoded = encode(text)
    if not encoded or encoded.endswith(b"\r\n"):
        return encoded
    start = encoded.rfind(b"\n") + 1
    last = encoded[start:]
    if len(last) >= MAX_LINE:  # the soft break's "=" would not fit: break the line earlier
        cut = MAX_LINE - 1
        # An "=" only ever starts an escape (=XX, a literal "=" is =3D); never cut one apart.
        if last[cut - 1 : cut] == b"=":
            cut -= 1
        elif last[cut - 2 : cut - 1] == b"=":
            cut -= 2
        encoded = encoded[:start] + last[:cut] + b"=\r\n" + last[cut:]
    return encoded + b"=\r\n"
