"""Quoted-printable pieces encoded apart and joined decode to the joined text, lines ≤ 76."""

from __future__ import annotations

import binascii
import email
import email.policy

import pytest
import time_machine
from django.utils import timezone, translation
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.qp import MAX_LINE, encode, encode_piece
from campaigns.rendering import compile_campaign

from .test_merge import BATCHABLE, NAMES, _factory, _recipient

# Text as campaigns have it: any characters but CR (bodies are normalised to LF), with
# the ones that matter to quoted-printable made likely.
_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from([" ", "\t", "=", ".", "\n", "a", "ä", "😀", "€"]),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"),
    ),
    max_size=300,
)


def _lf(text: str) -> str:
    """Line breaks as the template has them (the wire has CRLF)."""
    return text.replace("\r\n", "\n")


def _decode(encoded: bytes) -> str:
    return binascii.a2b_qp(encoded.replace(b"\r\n", b"\n")).decode("utf-8")


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT, max_size=8))
def test_pieces_joined_decode_to_the_joined_text(pieces):
    joined = b"".join(encode_piece(piece) for piece in pieces)
    assert _decode(joined) == "".join(pieces)
    assert all(len(line) <= MAX_LINE for line in joined.split(b"\r\n"))
    assert b"\n" not in joined.replace(b"\r\n", b"")  # CRLF line breaks only


@pytest.mark.parametrize("length", range(70, 82))
@pytest.mark.parametrize("tail", ["", "ä", "==", " "])
def test_a_piece_ending_on_a_full_line_breaks_it_before_the_soft_break(length, tail):
    piece = "x" * length + tail
    encoded = encode_piece(piece)
    assert encoded.endswith(b"=\r\n")
    assert all(len(line) <= MAX_LINE for line in encoded.split(b"\r\n"))
    assert _decode(encoded + encode_piece("next")) == piece + "next"


def test_a_whole_body_is_unchanged():
    assert encode("Grüße\r\nvon hier\n") == b"Gr=C3=BC=C3=9Fe\r\nvon hier\r\n"


@pytest.mark.parametrize("body", BATCHABLE)
@time_machine.travel(timezone.now(), tick=False)  # the signed links of build and render: same second
def test_built_mails_decode_to_the_rendered_bodies(body):
    """The mail on the wire, parsed by the stdlib, carries exactly what the template rendered."""
    compiled = compile_campaign(
        mjml_body=body, subject="S", contact_name="Anna & <Co>", campaign_name="Herbst"
    )
    factory = _factory(compiled)
    names = [*NAMES, "x" * 200, "Ende mit Leerzeichen ", "a=b", ".Punkt am Anfang", "Zeile\nzwei"]
    for language in ("de", "en"):
        with translation.override(language):
            for n, name in enumerate(names):
                for text_only in (False, True):
                    recipient = _recipient(n, name, language=language, text_only=text_only)
                    mail = factory.build(recipient)
                    expected = compiled.render(
                        factory.variables(recipient), language=language, text_only=text_only
                    )
                    parsed = email.message_from_bytes(mail.raw, policy=email.policy.default)
                    assert all(len(line) <= 998 for line in mail.raw.split(b"\r\n"))
                    text = parsed.get_body(("plain",)).get_content()
                    assert _lf(text) == _lf(expected.text)
                    if not text_only:
                        assert _lf(parsed.get_body(("html",)).get_content()) == _lf(expected.html)
