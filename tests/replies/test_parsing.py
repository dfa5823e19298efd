import pytest

from replies.parsing import html_to_text, parse_mail, sanitise_html, strip_quotes_and_signature
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


HOSTILE_HTML_ONLY = (
    b"From: Eve <eve@example.org>\r\nTo: reply+abc@reply.localhost\r\nSubject: Hi\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
    b"<h1>My question</h1><p>Is this <b>really</b> <i>free</i>? Read"
    b" <a href='https://example.org/a_b?x=1&amp;y=2'>our terms</a>,"
    b" <a href='javascript:alert(document.cookie)'>click me</a>,"
    b" <a href='data:text/html;base64,PHNjcmlwdD4='>this</a>,"
    b" <a href=' JaVa&#9;ScRiPt:alert(1)'>or this</a>, <a href='mailto:eve@example.org'>write me</a>,"
    b" <a href='https://example.com/'>https://example.com/</a>.</p>"
    b"<ul><li>- first</li><li>1. second</li></ul>"
    b"<p>**not bold** and [a](b)</p><img src='https://tracker.example/p.gif' alt='pixel'>"
    b"<div>On Monday, Rundbrief wrote:</div><blockquote><p>Dear reader, the old newsletter.</p></blockquote>"
    b"</body></html>\r\n"
)


def test_an_html_only_reply_reads_as_plain_text_with_links_written_out():
    mail = parse_mail(HOSTILE_HTML_ONLY)
    text = mail.text
    assert "My question" in text and "Is this really free?" in text  # no **bold**, no _italic_, no "# "
    assert "our terms (https://example.org/a_b?x=1&y=2)" in text  # not [our terms](...) nor escaped a\\_b
    assert "write me (eve@example.org)" in text
    assert "https://example.com/." in text and "(https://example.com/)" not in text  # the words are the link
    # javascript: and data: links keep their words only, however they are spelled.
    assert "click me," in text and "this," in text and "or this," in text
    for dead in ("javascript", "JaVa", "data:", "base64", "alert", "color:red"):
        assert dead not in text
    assert "tracker.example" not in text and "pixel" not in text  # images are not text
    assert "- first" in text and "1. second" in text  # no Markdown escapes (\\- or 1\\.)
    assert "**not bold** and [a](b)" in text  # the sender's own characters stay as written
    assert "> Dear reader" in text  # quotes as "> " lines
    assert "Dear reader" not in mail.stripped_text and "Is this really free?" in mail.stripped_text


@pytest.mark.parametrize(
    "html", ["", "   ", "<!-- only a comment -->", "<script>x()</script>", "<a href='x'"]
)
def test_html_to_text_never_fails_on_empty_or_broken_html(html):
    assert isinstance(html_to_text(html), str)


def test_sanitised_html_keeps_web_links_opening_in_a_new_tab_and_drops_script_links():
    clean = sanitise_html(
        '<a href="https://example.org/" target="_self" onclick="steal()">site</a>'
        '<a href="javascript:alert(1)">js</a><a href="data:text/html,x">data</a>'
        '<a href=" JaVa&#9;ScRiPt:alert(1)">obfuscated</a><a href="mailto:a@example.org">mail</a>'
    )
    assert (
        '<a href="https://example.org/" target="_blank" rel="noopener noreferrer nofollow">site</a>' in clean
    )
    assert 'href="mailto:a@example.org"' in clean
    assert "javascript" not in clean.lower() and "data:" not in clean and "onclick" not in clean
    assert clean.count("href=") == 2


def test_a_multipart_without_a_boundary_is_read_as_the_persons_text():
    """Seen in real replies (two Discourse mails in the reply corpus): multipart/alternative declared,
    no boundary parameter; the stdlib keeps the body as one leaf, and that is the answer."""
    raw = (
        b"From: Kim <kim@example.org>\r\nTo: reply+abc@reply.example.org\r\nSubject: Re: News\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; charset=utf-8\r\n\r\n"
        b"Danke, das hilft mir sehr.\r\n"
    )
    assert "Danke, das hilft mir sehr." in parse_mail(raw).text
