"""A test send is the preview: rendered as the chosen subscriber (name, language, footer) or the
sample; its links open a "this was a test" page; its reply token is stored with who sent it."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from django.urls import reverse

from campaigns.models import TestSend
from replies import services as replies
from replies.models import Conversation, InboundMessage
from rundbrief.mail.addresses import REPLY
from rundbrief.mailbox.models import CapturedMail

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_a_reply_to_a_test_mail_reaches_the_marketer_who_sent_it(client_marketer, campaign, topic, marketer):
    lena = make_subscriber("lena.fischer@example.org", topic, name="Lena Fischer", language="de")
    client_marketer.post(
        reverse("campaigns:test_send", args=[campaign.pk]),
        {"addresses": "mara@example.org", "as_subscriber": lena.email},
    )
    test_mail = parsed(CapturedMail.objects.get())
    reply_to = test_mail["Reply-To"].addresses[0].addr_spec
    reply = EmailMessage()
    reply["From"] = "Mara <mara@example.org>"
    reply["To"] = reply_to
    reply["Subject"] = "Re: " + test_mail["Subject"]
    reply["Message-ID"] = "<reply-to-test@example.org>"
    reply["In-Reply-To"] = test_mail["Message-ID"]
    reply.set_content("Looks good, but the second paragraph is too long.")
    inbound = replies.store_inbound(
        reply.as_bytes(), source=InboundMessage.Source.PIPE, envelope_to=[reply_to]
    )

    conversation = Conversation.objects.get()
    assert (conversation.assignee, conversation.routing_rule) == (marketer, "test_sender")
    assert conversation.subscriber is None and conversation.campaign == campaign  # never Lena's
    inbound.refresh_from_db()
    assert inbound.rule_hits[0]["reasons"] == [{"code": "token_test", "params": {"address": reply_to}}]
