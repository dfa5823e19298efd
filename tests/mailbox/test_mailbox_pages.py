from __future__ import annotations

import html

import pytest
from django.core.mail import send_mail
from django.urls import reverse

from rundbrief.mailbox.backend import capture_raw
from rundbrief.mailbox.models import CapturedMail

pytestmark = pytest.mark.django_db


def test_list_is_newest_first_and_filters_by_recipient(client):
    send_mail("First", "one", "newsletter@localhost", ["lena@example.org"])
    send_mail("Second", "two", "newsletter@localhost", ["tom@example.org"])
    send_mail("Third", "three", "newsletter@localhost", ["lena@example.org"])

    page = client.get(reverse("mailbox:list")).content.decode()
    assert page.index("Third") < page.index("Second") < page.index("First")

    filtered = client.get(reverse("mailbox:list"), {"to": "lena@example.org"}).content.decode()
    assert "Third" in filtered and "First" in filtered and "Second" not in filtered


def test_empty_mailbox_and_unknown_recipient_say_so(client):
    assert "No mail yet" in client.get(reverse("mailbox:list")).content.decode()
    send_mail("First", "one", "newsletter@localhost", ["lena@example.org"])
    response = client.get(reverse("mailbox:list"), {"to": "nobody@example.org"})
    assert "No mail to “nobody@example.org” yet." in html.unescape(response.content.decode())


def test_detail_shows_html_sandboxed_with_links_in_new_tab_text_and_all_headers(client, newsletter):
    response = client.get(reverse("mailbox:detail", args=[newsletter.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in body
    assert "&lt;base target=&quot;_blank&quot;&gt;" in body  # inside srcdoc, escaped
    assert '<a href="http://127.0.0.1:8000/confirm/abc/"' in body  # clickable text link
    assert "Neuigkeiten für dich" in body  # decoded subject
    for header in ("Reply-To", "Message-ID", "References", "Content-Type"):
        assert f'<th scope="row">{header}</th>' in body
    assert "reply+0123456789abcdef0123456789abcdef@reply.localhost" in body


def test_raw_download_is_the_exact_message(client, newsletter):
    response = client.get(reverse("mailbox:raw", args=[newsletter.pk]))
    assert response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"] == f'attachment; filename="mail-{newsletter.pk}.eml"'
    assert response.content == bytes(newsletter.raw)


def test_captured_raw_mail_gets_a_readable_subject():
    raw = b"From: a@localhost\r\nTo: b@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nHallo\r\n"
    capture_raw(
        raw, sender="a@localhost", recipients=["b@example.org"], subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?="
    )
    assert CapturedMail.objects.get().subject == "Grüße"


def test_unknown_mail_is_404(client):
    assert client.get(reverse("mailbox:detail", args=[999])).status_code == 404


def test_an_answer_links_back_to_the_captured_mails_of_its_thread(client, newsletter):
    from django.core.mail import EmailMessage

    EmailMessage(
        "Re: Neuigkeiten für dich",
        "Danke für deine Antwort!",
        "Anna Berger <reply+ffffffffffffffffffffffffffffffff@reply.localhost>",
        ["lena@example.org"],
        headers={
            "In-Reply-To": "<subscriber-reply@example.org>",
            "References": "<campaign-1.delivery-7@rundbrief.localhost> <subscriber-reply@example.org>",
        },
    ).send()
    answer = CapturedMail.objects.exclude(pk=newsletter.pk).get()
    body = client.get(reverse("mailbox:detail", args=[answer.pk])).content.decode()
    assert "Earlier in this thread" in body
    assert reverse("mailbox:detail", args=[newsletter.pk]) in body


def test_attachments_are_listed_by_name_type_and_size(client):
    from django.core.mail import EmailMessage

    message = EmailMessage("Your data", "See attachment.", "newsletter@localhost", ["lena@example.org"])
    message.attach("my-data.json", b'{"email": "lena@example.org"}', "application/json")
    message.send()
    body = client.get(reverse("mailbox:detail", args=[CapturedMail.objects.get().pk])).content.decode()
    assert "my-data.json" in body and "application/json" in body and "29\xa0bytes" in body
