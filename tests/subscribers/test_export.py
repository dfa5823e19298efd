"""The data download is complete: a ZIP with data.json and the files, and the page says what is in it.

The issue: the JSON download left out conversations, messages, attachments, staff notes about
the subscriber and the deliveries they received, though the README promises "every datum".
Campaigns and replies contribute their parts through subscribers.exports (registered in
their AppConfig.ready), so subscribers imports neither app.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from campaigns.models import Campaign, Delivery
from replies.models import Attachment, Conversation, ConversationEvent, InboundMessage, Message
from subscribers import exports, tokens
from subscribers.models import ConsentEvent

from .conftest import link_from

pytestmark = pytest.mark.django_db

RAW = b"From: pat@example.org\r\nSubject: Re: Autumn\r\nMessage-ID: <r1@example.org>\r\n\r\nThanks!\r\n"


@pytest.fixture
def rich_subscriber(settings, tmp_path, make_subscriber):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    subscriber = make_subscriber("pat@example.org", name="Pat")
    other = make_subscriber("other@example.org", name="Other")
    ConsentEvent.objects.create(
        subscriber=subscriber,
        email_hash=subscriber.email_hash,
        kind="confirmed",
        source="link",
        ip_address="192.0.2.8",
    )
    campaign = Campaign.objects.create(name="Autumn", subject="Autumn news", mjml_body="<mjml></mjml>")
    Delivery.objects.create(
        campaign=campaign,
        subscriber=subscriber,
        status="sent",
        reply_token="t1",
        message_id="<m1@example.org>",
    )
    Delivery.objects.create(
        campaign=campaign, subscriber=other, status="sent", reply_token="t2", message_id="<m2@x>"
    )
    anna = get_user_model().objects.create_user("anna", first_name="Anna", last_name="Berg")
    inbound = InboundMessage.objects.create(raw=RAW, size=len(RAW), source="smtp", dedupe_key="k1")
    conversation = Conversation.objects.create(subscriber=subscriber, campaign=campaign, subject="Re: Autumn")
    message = Message.objects.create(
        conversation=conversation, direction="in", inbound=inbound, subject="Re: Autumn", text="Thanks!"
    )
    Message.objects.create(conversation=conversation, direction="out", author=anna, text="You're welcome.")
    Attachment.objects.create(
        message=message,
        file=ContentFile(b"%PDF-1.4 invoice", name="invoice.pdf"),
        filename="invoice.pdf",
        size=16,
    )
    Attachment.objects.create(
        message=message, file=ContentFile(b"sneaky", name="x.txt"), filename="../../etc/passwd", size=6
    )
    Attachment.objects.create(
        message=message, file=ContentFile(b"second", name="y.pdf"), filename="invoice.pdf", size=6
    )
    ConversationEvent.objects.create(
        conversation=conversation, kind="note", actor=anna, text="Long-time reader"
    )
    ConversationEvent.objects.create(conversation=conversation, kind="closed", actor=anna)
    other_conversation = Conversation.objects.create(subscriber=other, subject="Other's")
    ConversationEvent.objects.create(conversation=other_conversation, kind="note", text="not Pat's")
    return subscriber


def download(client, subscriber, commit_hooks, mailoutbox) -> zipfile.ZipFile:
    prefs = tokens.preferences_url(subscriber.pk).removeprefix("http://127.0.0.1:8000")
    with commit_hooks():
        client.post(prefs + "export/")
    response = client.post(link_from(mailoutbox[-1], "/export/"))
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_zip_holds_every_datum(client, rich_subscriber, commit_hooks, mailoutbox):
    archive = download(client, rich_subscriber, commit_hooks, mailoutbox)
    data = json.loads(archive.read("data.json"))
    assert data["subscriber"]["email"] == "pat@example.org"
    assert data["consent_history"][0]["ip_address"] == "192.0.2.8"
    [delivery] = data["deliveries"]
    assert (delivery["campaign"], delivery["subject"], delivery["status"]) == (
        "Autumn",
        "Autumn news",
        "sent",
    )
    assert "created_at" in delivery and "sent_at" in delivery

    [conversation] = data["conversations"]
    assert conversation["campaign"] == "Autumn"
    assert [m["text"] for m in conversation["messages"]] == ["Thanks!", "You're welcome."]
    assert conversation["staff_notes"] == [
        {
            "created_at": conversation["staff_notes"][0]["created_at"],
            "author": "Anna Berg",
            "text": "Long-time reader",
        }
    ]
    inbound = conversation["messages"][0]
    names = archive.namelist()
    assert archive.read(inbound["original"]["file"]) == RAW
    files = {a["filename"]: a["file"] for a in inbound["attachments"] if a["filename"] != "invoice.pdf"}
    pdfs = [a["file"] for a in inbound["attachments"] if a["filename"] == "invoice.pdf"]
    assert [archive.read(path) for path in pdfs] == [b"%PDF-1.4 invoice", b"second"]  # same name, both kept
    assert archive.read(files["../../etc/passwd"]) == b"sneaky"
    assert all(not name.startswith("/") and ".." not in name.split("/") for name in names)
    assert all(path.startswith("conversations/") for path in files.values())
    assert "not Pat's" not in json.dumps(data)
    assert "other@example.org" not in json.dumps(data)
    readme = archive.read("README.txt").decode()
    assert "pat@example.org" in readme and "data.json" in readme


def test_a_file_missing_from_storage_does_not_cost_the_rest(
    client, rich_subscriber, commit_hooks, mailoutbox
):
    attachment = Attachment.objects.filter(filename="invoice.pdf").first()
    attachment.file.delete(save=False)
    archive = download(client, rich_subscriber, commit_hooks, mailoutbox)
    data = json.loads(archive.read("data.json"))
    assert len(data["missing_files"]) == 1
    assert len(data["conversations"][0]["messages"]) == 2


def test_the_preference_centre_shows_what_the_download_contains(client, rich_subscriber):
    page = client.get(tokens.preferences_url(rich_subscriber.pk).removeprefix("http://127.0.0.1:8000"))
    html = page.content.decode()
    for label in [
        "Your address, name, language and settings",
        "Topics and their status",
        "Consent history (with IP addresses and browsers)",
        "Newsletters we sent you (campaign, time, state)",
        "Your replies and our answers, with attachments and staff notes",
    ]:
        assert label in html
    counts = {str(line.label): line.count for line in exports.summary(rich_subscriber)}
    assert counts["Newsletters we sent you (campaign, time, state)"] == 1
    assert counts["Your replies and our answers, with attachments and staff notes"] == 1


def test_the_registry_refuses_a_key_of_the_subscribers_own_data():
    with pytest.raises(ValueError, match="taken"):
        exports.register(exports.Section(key="subscriber", label="x", count=len, collect=len))


def test_subscribers_imports_neither_campaigns_nor_replies():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "subscribers"
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "from campaigns" not in text and "import campaigns" not in text, path
        assert "from replies" not in text and "import replies" not in text, path
