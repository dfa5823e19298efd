"""A test send is the preview: rendered as the chosen subscriber (name, language, footer) or the
sample; its links open a "this was a test" page; its reply token is stored with who sent it."""

from __future__ import annotations

import email
import email.policy

import pytest
from django.urls import reverse

from campaigns.models import TestSend
from rundbrief.mail.addresses import REPLY
from rundbrief.mailbox.models import CapturedMail

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client_marketer(client, marketer, settings):
    settings.EMAIL_DELIVERY = "mailbox"
    client.force_login(marketer)
    return client


def content(mail, kind: str) -> str:
    return mail.get_body((kind,)).get_content().replace("\r\n", "\n")


def parsed(mail: CapturedMail):
    return email.message_from_bytes(bytes(mail.raw), policy=email.policy.default)


def preview(client, campaign, topic, address: str) -> dict:
    return client.post(
        reverse("campaigns:preview"),
        {
            "campaign_id": campaign.pk,
            "name": campaign.name,
            "subject": campaign.subject,
            "preheader": campaign.preheader,
            "from_name": campaign.from_name,
            "contact": campaign.contact_id,
            "mjml_body": campaign.mjml_body,
            "topics": [topic.pk],
            "preview_subscriber": address,
        },
    ).json()


@pytest.mark.parametrize("as_subscriber", ["lena.fischer@example.org", ""])
def test_the_test_mail_is_the_preview_for_the_chosen_subscriber(
    client_marketer, campaign, topic, marketer, frozen_clock, as_subscriber
):
    make_subscriber("lena.fischer@example.org", topic, name="Lena Fischer", language="de")
    campaign.subject = "Hallo {{ subscriber.name }}"
    campaign.save()
    shown = preview(client_marketer, campaign, topic, as_subscriber)
    client_marketer.post(
        reverse("campaigns:test_send", args=[campaign.pk]),
        {"addresses": "mara@example.org", "as_subscriber": as_subscriber},
    )
    mail = parsed(CapturedMail.objects.get())
    assert mail["To"].addresses[0].addr_spec == "mara@example.org"
    assert mail["Subject"] == "[TEST] " + shown["subject"]
    assert content(mail, "plain") == shown["text"]
    assert content(mail, "html") == shown["html"]
    if as_subscriber:
        assert "Hallo Lena Fischer" in shown["text"]
        assert "Abmelden" in shown["text"]  # her language: the German footer
    else:
        assert "Hallo Alex Sample" in shown["text"] and "Unsubscribe" in shown["text"]


def test_links_in_a_test_mail_open_a_this_was_a_test_page(client_marketer, client, campaign, topic):
    client_marketer.post(
        reverse("campaigns:test_send", args=[campaign.pk]), {"addresses": "mara@example.org"}
    )
    mail = parsed(CapturedMail.objects.get())
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    path = unsubscribe.split("://", 1)[1].split("/", 1)[1]
    client.logout()
    page = client.get("/" + path)
    assert page.status_code == 200 and "This was a test" in page.content.decode()
    assert "unsubscribes the subscriber" in page.content.decode()
    one_click = client.post("/" + path, {"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    text = content(mail, "plain")
    preferences = next(line for line in text.splitlines() if "preferences" in line.lower()).split(": ", 1)[1]
    page = client.get("/" + preferences.split("://", 1)[1].split("/", 1)[1])
    assert page.status_code == 200 and "preference centre" in page.content.decode()
    assert client.get(reverse("campaigns:test_link", args=["forged"])).status_code == 404


def test_the_reply_token_of_each_test_mail_is_stored_with_who_sent_it(client_marketer, campaign, marketer):
    client_marketer.post(
        reverse("campaigns:test_send", args=[campaign.pk]), {"addresses": "a@example.org b@example.org"}
    )
    tokens = {
        REPLY.token_of(parsed(m)["Reply-To"].addresses[0].addr_spec) for m in CapturedMail.objects.all()
    }
    sends = TestSend.objects.all()
    assert {s.reply_token for s in sends} == tokens and len(tokens) == 2
    assert {(s.campaign_id, s.sent_by_id) for s in sends} == {(campaign.pk, marketer.pk)}
