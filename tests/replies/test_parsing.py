import pytest

from replies.parsing import parse_mail, sanitise_html, strip_quotes_and_signature
from tests.replies.conftest import eml


def test_gmail_prefers_text_plain_and_strips_the_quote():
    mail = parse_mail(eml("gmail_reply_en.eml"))
    assert mail.from_address == "anna@example.org"
    assert mail.message_id == "<CAF=gmail-reply-0001@mail.gmail.com>"
    assert mail.in_reply_to == ["<20261121100000.1.anna@rundbrief.localhost>"]
    assert "subsidy also applies" in mail.text
    assert "Dear reader" in mail.text  # the full text keeps the quote
    assert "subsidy also applies" in mail.stripped_text
    assert "Dear reader" not in mail.stripped_text


def test_outlook_html_only_windows_1252_becomes_text_without_history():
    mail = parse_mail(eml("outlook_reply_de.eml"))
    assert mail.from_name == "Jürgen Müller"
    assert "Unterlagen zur Förderung" in mail.text
    assert "Unterlagen zur Förderung" in mail.stripped_text
    assert "Wärmepumpen" not in mail.stripped_text


def test_apple_mail_german_quote_signature_and_attachment():
    mail = parse_mail(eml("apple_mail_de.eml"))
    assert "Läuft seit Oktober problemlos" in mail.stripped_text
    assert "schrieb Rundbrief" not in mail.stripped_text
    assert "iPhone" not in mail.stripped_text
    assert [a.filename for a in mail.attachments] == ["waermepumpe.jpg"]
    assert mail.attachments[0].payload.startswith(b"\xff\xd8")


def test_thunderbird_signature_separator_and_pdf():
    mail = parse_mail(eml("thunderbird_en.eml"))
    assert "heating bill attached" in mail.stripped_text
    assert "Sample & Sons" not in mail.stripped_text
    assert mail.attachments[0].filename == "heating-bill 2025.pdf"
    assert mail.attachments[0].payload.startswith(b"%PDF")


@pytest.mark.parametrize("name", ["broken_charset.eml", "broken_mime.eml"])
def test_broken_charsets_and_mime_never_crash(name):
    mail = parse_mail(eml(name))
    assert mail.from_address == "anna@example.org"
    assert mail.subject  # something readable, even from broken encoded words


def test_unknown_charset_is_decoded_leniently():
    mail = parse_mail(eml("broken_charset.eml"))
    assert "aus K" in mail.text


def test_outside_html_is_sanitised():
    mail = parse_mail(eml("gmail_reply_en.eml"))
    clean = sanitise_html(mail.html)
    assert "<script" not in clean and "onerror" not in clean and "<img" not in clean
    assert "heat pumps" in clean


def test_strip_never_returns_empty_for_unquoted_text():
    assert strip_quotes_and_signature("Just one line") == "Just one line"
    assert strip_quotes_and_signature("") == ""
