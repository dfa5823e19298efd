"""The editor, preview, detail, confirmation and stats pages of a campaign in several languages."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from campaigns import services
from campaigns.models import Campaign, CampaignVersion, Delivery
from campaigns.selectors import audience_by_language, stats_by_language
from replies import services as replies
from replies.models import InboundMessage
from rundbrief.mail.addresses import REPLY
from rundbrief.mailbox.models import CapturedMail

from .conftest import make_subscriber
from .test_versions import ENGLISH_BODY, GERMAN

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def form(topic, owner) -> dict:
    owner.groups.add(Group.objects.get_or_create(name="Staff")[0])
    return {
        "name": "Autumn",
        "topics": [topic.pk],
        "default_language": "en",
        "subject": "Hello {{ subscriber.name }}",
        "preheader": "",
        "from_name": "Rundbrief",
        "contact": owner.pk,
        "mjml_body": ENGLISH_BODY,
        "text_body": "",
    }


def german(present: bool = True, **fields) -> dict:
    data = {f"v-de-{name}": value for name, value in {**GERMAN, **fields}.items()}
    return {**data, "v-de-present": "on"} if present else data


def test_the_editor_saves_edits_and_removes_a_version(client_marketer, form):
    page = client_marketer.get(reverse("campaigns:create")).content.decode()
    assert 'data-version-panel="de"' in page and "Copy from the default version" in page
    response = client_marketer.post(reverse("campaigns:create"), {**form, **german()})
    campaign = Campaign.objects.get()
    assert response.url == reverse("campaigns:detail", args=[campaign.pk])
    assert campaign.default_language == "en" and campaign.versions.get().subject == GERMAN["subject"]
    edit = client_marketer.get(reverse("campaigns:edit", args=[campaign.pk])).content.decode()
    assert "Guten Tag" in edit
    # Not filled in while present: refused with the field's error, nothing saved.
    response = client_marketer.post(
        reverse("campaigns:edit", args=[campaign.pk]), {**form, **german(subject="")}
    )
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert campaign.versions.get().subject == GERMAN["subject"]
    # A broken German body names its line in the German panel.
    response = client_marketer.post(
        reverse("campaigns:edit", args=[campaign.pk]),
        {**form, **german(mjml_body="<mj-section><mj-colum></mj-section>")},
    )
    assert "Unknown MJML element" in response.content.decode()
    # Unticked: removed.
    client_marketer.post(reverse("campaigns:edit", args=[campaign.pk]), {**form, **german(present=False)})
    assert not CampaignVersion.objects.exists()


def test_a_default_language_onto_a_version_is_refused_without_losing_it(client_marketer, form):
    client_marketer.post(reverse("campaigns:create"), {**form, **german()})
    campaign = Campaign.objects.get()
    response = client_marketer.post(
        reverse("campaigns:edit", args=[campaign.pk]), {**form, **german(), "default_language": "de"}
    )
    assert response.status_code == 200
    assert "a second one in it cannot be kept" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.default_language == "en" and campaign.versions.get().language == "de"
    # The detail page's button swaps them.
    client_marketer.post(reverse("campaigns:make_default", args=[campaign.pk, "de"]))
    campaign.refresh_from_db()
    assert campaign.default_language == "de" and campaign.subject == GERMAN["subject"]
    assert campaign.versions.get().language == "en"


def test_the_preview_switches_versions_by_tab_and_by_subscriber(client_marketer, form, topic):
    make_subscriber("lena@example.org", topic, name="Lena", language="de")
    url = reverse("campaigns:preview")
    english = client_marketer.post(url, {**form, **german(), "preview_language": "en"}).json()
    assert english["subject"] == "Hello Alex Sample" and english["version"]["language"] == "en"
    tab = client_marketer.post(url, {**form, **german(), "preview_language": "de"}).json()
    assert tab["subject"] == "Hallo Alex Sample, Neues im Herbst" and "Abmelden" in tab["text"]
    lena = client_marketer.post(
        url, {**form, **german(), "preview_language": "en", "preview_subscriber": "lena@example.org"}
    ).json()
    assert lena["subject"] == "Hallo Lena, Neues im Herbst" and lena["version"]["language"] == "de"
    # Without a German version, she sees the English one, and the preview says so.
    fallback = client_marketer.post(url, {**form, "preview_subscriber": "lena@example.org"}).json()
    assert fallback["subject"] == "Hello Lena" and "Abmelden" in fallback["text"]
    assert fallback["version"]["note"] == "No German version: German subscribers get the English one."
    # An error in the German version shows when the German tab is shown.
    broken = client_marketer.post(
        url, {**form, **german(mjml_body="<mj-section><mj-colum>"), "preview_language": "de"}
    ).json()
    assert broken["errors"] and broken["version"]["language"] == "de"


def test_audience_and_confirmation_count_per_language_and_name_the_fallback(client_marketer, topic, marketer):
    campaign = services.save_campaign(
        name="Only English", topics=[topic], subject="Autumn", mjml_body=ENGLISH_BODY, user=marketer
    )
    for n in range(3):
        make_subscriber(f"de{n}@example.org", topic, language="de")
    make_subscriber("en@example.org", topic, language="en")
    groups = {g.language: g for g in audience_by_language(campaign)}
    assert (groups["de"].recipients, groups["de"].version_language) == (3, "en")
    assert groups["de"].note == "No German version: 3 German subscribers get English."
    assert (groups["en"].recipients, groups["en"].falls_back) == (1, False)
    page = client_marketer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert 'data-language-count="de">3<' in page and "3 German subscribers get English" in page
    confirm = client_marketer.post(reverse("campaigns:launch", args=[campaign.pk]), {"at": ""})
    text = confirm.content.decode()
    assert "Send “Only English” to 4 people now?" in text and "3 German subscribers get English" in text
    # With a German version they get it.
    CampaignVersion.objects.create(campaign=campaign, language="de", **GERMAN)
    groups = {g.language: g for g in audience_by_language(campaign)}
    assert groups["de"].version_language == "de" and not groups["de"].falls_back


def test_a_test_send_from_the_detail_page_uses_the_chosen_version(client_marketer, form):
    client_marketer.post(reverse("campaigns:create"), {**form, **german()})
    campaign = Campaign.objects.get()
    page = client_marketer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert 'name="language"' in page and "Make this the default version" in page
    client_marketer.post(
        reverse("campaigns:test_send", args=[campaign.pk]), {"addresses": "me@example.org", "language": "de"}
    )
    assert CapturedMail.objects.get().subject == "[TEST] Hallo Alex Sample, Neues im Herbst"


def test_a_launch_with_a_broken_version_names_it(client_marketer, form):
    client_marketer.post(reverse("campaigns:create"), {**form, **german()})
    campaign = Campaign.objects.get()
    CampaignVersion.objects.update(mjml_body="<mj-section><mj-column><mj-text>x")
    page = client_marketer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert "The German version: " in page
    response = client_marketer.post(
        reverse("campaigns:launch", args=[campaign.pk]), {"at": "", "confirmed": "1"}, follow=True
    )
    assert "The German version cannot be rendered" in response.content.decode()
    assert not Delivery.objects.exists()


def test_stats_count_delivered_and_repliers_per_language(client_marketer, topic, smtp_settings, form):
    client_marketer.post(reverse("campaigns:create"), {**form, **german()})
    campaign = Campaign.objects.get()
    make_subscriber("lena@example.org", topic, name="Lena", language="de")
    make_subscriber("jonas@example.org", topic, name="Jonas", language="de")
    make_subscriber("sara@example.org", topic, name="Sara", language="en")
    services.launch_campaign(campaign=campaign)
    # Lena answers, twice: one German person who replied.
    lena = Delivery.objects.get(subscriber__email="lena@example.org")
    for n in range(2):
        reply = EmailMessage()
        reply["From"] = "lena@example.org"
        reply["To"] = REPLY.address(lena.reply_token)
        reply["Subject"] = "Re: Herbst"
        reply["Message-ID"] = f"<lena-{n}@example.org>"
        reply.set_content("Danke, sehr interessant.")
        replies.store_inbound(reply.as_bytes(), source=InboundMessage.Source.PIPE, envelope_to=[reply["To"]])
    rows = {row.language: row for row in stats_by_language(campaign)}
    assert (rows["de"].delivered, rows["en"].delivered) == (2, 1)
    assert (rows["de"].repliers, rows["en"].repliers) == (1, 0)
    page = client_marketer.get(reverse("campaigns:stats", args=[campaign.pk])).content.decode()
    assert 'data-language-delivered="de">2<' in page and 'data-language-delivered="en">1<' in page
    assert 'data-language-repliers="de">1<' in page
    # The content as sent, per version.
    assert 'data-sent-version="de"' in page and "Hello Alex Sample" in page.split('id="as-sent"', 1)[1]
    german_page = client_marketer.get(
        reverse("campaigns:stats", args=[campaign.pk]) + "?version=de"
    ).content.decode()
    assert "Hallo Alex Sample, Neues im Herbst" in german_page.split('id="as-sent"', 1)[1]
