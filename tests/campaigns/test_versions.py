"""One campaign in several languages: each subscriber gets the version in their language, else the
default one; every version is checked before a launch; SMTP, ESP batches, tests and the web view
all pick the same version."""

from __future__ import annotations

import pytest
from django.core import mail

from campaigns import services
from campaigns.messages import Recipient, build_factory
from campaigns.models import CampaignVersion, Delivery
from campaigns.rendering import CampaignRenderError
from campaigns.versions import VersionRenderError, content_for, served_by
from dialogue.webview import own_mail, public_issue
from rundbrief.mailbox.models import CapturedMail

from .conftest import make_subscriber
from .esp_edge import EDGE

GERMAN = {
    "subject": "Hallo {{ subscriber.name|default:'du' }}, Neues im Herbst",
    "preheader": "Kurz und deutsch",
    "mjml_body": "<mj-section><mj-column><mj-text>Guten Tag {{ subscriber.name }}, das ist die Herbstausgabe."
    "</mj-text></mj-column></mj-section>",
    "text_body": "",
}
ENGLISH_BODY = (
    "<mj-section><mj-column><mj-text>Good day {{ subscriber.name }}, this is the autumn issue."
    "</mj-text></mj-column></mj-section>"
)


@pytest.fixture
def bilingual(topic, marketer):
    return services.save_campaign(
        name="Autumn",
        topics=[topic],
        subject="Hello {{ subscriber.name|default:'friend' }}, autumn news",
        preheader="Short and English",
        from_name="Rundbrief",
        mjml_body=ENGLISH_BODY,
        user=marketer,
        default_language="en",
        versions={"de": GERMAN},
    )


def recipient(language: str, name: str = "Lena", email: str = "lena@example.org", **kw) -> Recipient:
    return Recipient(
        delivery_id=0,
        message_id="<m@example.org>",
        reply_token="tok",
        subscriber_id=1,
        email=email,
        name=name,
        language=language,
        text_only=False,
        **kw,
    )


@pytest.mark.django_db
def test_each_language_gets_its_version_and_its_footer(bilingual):
    factory = build_factory(bilingual)
    german = factory.build(recipient("de"))
    english = factory.build(recipient("en"))
    assert german.subject == "Hallo Lena, Neues im Herbst"
    assert "Guten Tag Lena" in german.text and "Abmelden" in german.text
    assert "Good day" not in german.text
    assert english.subject == "Hello Lena, autumn news"
    assert "Good day Lena" in english.text and "Unsubscribe" in english.text
    assert "Guten Tag" not in english.html


@pytest.mark.django_db
def test_a_language_without_a_version_gets_the_default(topic, marketer):
    campaign = services.save_campaign(
        name="Only English",
        topics=[topic],
        subject="Autumn news",
        mjml_body=ENGLISH_BODY,
        user=marketer,
        default_language="en",
    )
    assert served_by(campaign) == {"de": "en", "en": "en"}
    mail_de = build_factory(campaign).build(recipient("de"))
    assert mail_de.subject == "Autumn news" and "Good day Lena" in mail_de.text
    assert "Abmelden" in mail_de.text  # the footer still follows the subscriber
    # German as default: English subscribers get the German version.
    german = services.save_campaign(
        name="Nur deutsch", topics=[topic], user=marketer, default_language="de", **GERMAN
    )
    assert content_for(german, "en").language == "de"
    assert build_factory(german).build(recipient("en")).subject == "Hallo Lena, Neues im Herbst"


@pytest.mark.django_db
def test_saving_replaces_the_versions_and_refuses_unknown_or_duplicate_languages(bilingual, topic):
    fields = {"name": "Autumn", "topics": [topic], "subject": "S", "mjml_body": ENGLISH_BODY}
    with pytest.raises(ValueError, match="Unknown language"):
        services.save_campaign(campaign=bilingual, versions={"fr": GERMAN}, **fields)
    with pytest.raises(ValueError, match="default version"):
        services.save_campaign(campaign=bilingual, versions={"en": GERMAN}, **fields)
    with pytest.raises(ValueError, match="needs a subject and a body"):
        services.save_campaign(campaign=bilingual, versions={"de": {**GERMAN, "subject": " "}}, **fields)
    assert CampaignVersion.objects.get(campaign=bilingual).subject == GERMAN["subject"]  # nothing lost
    # None leaves the versions alone; an empty mapping removes them.
    services.save_campaign(campaign=bilingual, **fields)
    assert bilingual.versions.count() == 1
    services.save_campaign(campaign=bilingual, versions={}, **fields)
    assert bilingual.versions.count() == 0


@pytest.mark.django_db
def test_making_a_version_the_default_swaps_and_loses_nothing(bilingual):
    services.make_default_version(campaign=bilingual, language="de")
    bilingual.refresh_from_db()
    assert bilingual.default_language == "de" and bilingual.subject == GERMAN["subject"]
    version = bilingual.versions.get()
    assert version.language == "en" and version.mjml_body == ENGLISH_BODY
    bilingual.versions.all().delete()
    with pytest.raises(ValueError, match="There is no English version"):
        services.make_default_version(campaign=bilingual, language="en")


@pytest.mark.django_db
def test_changing_the_default_language_onto_an_existing_version_is_refused(bilingual, topic):
    with pytest.raises(ValueError, match="There is a German version already"):
        services.save_campaign(
            campaign=bilingual,
            name="Autumn",
            topics=[topic],
            subject="S",
            mjml_body=ENGLISH_BODY,
            default_language="de",
        )


@pytest.mark.django_db
def test_a_broken_version_refuses_the_launch_and_is_named(bilingual):
    CampaignVersion.objects.filter(campaign=bilingual).update(mjml_body="<mj-section><mj-column><mj-text>x")
    with pytest.raises(VersionRenderError) as caught:
        services.check_launch(campaign=bilingual)
    assert caught.value.language == "de"
    assert isinstance(caught.value, CampaignRenderError)
    CampaignVersion.objects.filter(campaign=bilingual).update(
        mjml_body=GERMAN["mjml_body"], subject="Hallo {{ subscriber.firstname }}"
    )
    with pytest.raises(services.CampaignStateError, match="The German version uses variables no mail has"):
        services.check_launch(campaign=bilingual)
    # The footer guard checks every version too.
    CampaignVersion.objects.filter(campaign=bilingual).update(
        subject="Hallo",
        mjml_body="<mj-section><mj-column><mj-text><style>* {display:none}</style></mj-text></mj-column>"
        "</mj-section>",
    )
    with pytest.raises(VersionRenderError) as caught:
        services.check_launch(campaign=bilingual)
    assert caught.value.language == "de"
    assert not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_smtp_send_gives_each_subscriber_their_version(bilingual, topic, smtp_settings):
    make_subscriber("lena@example.org", topic, name="Lena", language="de")
    make_subscriber("sara@example.org", topic, name="Sara", language="en")
    services.launch_campaign(campaign=bilingual)
    by_address = {m["To"].addresses[0].addr_spec: m for m in smtp_settings.messages}
    assert by_address["lena@example.org"]["Subject"] == "Hallo Lena, Neues im Herbst"
    assert "Guten Tag Lena" in by_address["lena@example.org"].get_body(("plain",)).get_content()
    assert by_address["sara@example.org"]["Subject"] == "Hello Sara, autumn news"
    assert "Good day Sara" in by_address["sara@example.org"].get_body(("html",)).get_content()
    # The web view of each mail is that version too.
    lena = Delivery.objects.select_related("subscriber", "campaign").get(subscriber__email="lena@example.org")
    assert "Guten Tag Lena" in own_mail(lena).html


@pytest.fixture
def esp(settings):
    settings.EMAIL_DELIVERY = "esp"
    settings.EMAIL_BACKEND = "tests.campaigns.esp_edge.EmailBackend"
    settings.ANYMAIL_ESP = "mailgun"
    EDGE.reset()
    mail.outbox = []
    yield settings
    EDGE.reset()


def merged(body: str, values: dict) -> str:
    for key, value in values.items():
        body = body.replace(f"%recipient.{key}%", value)
    return body


@pytest.mark.django_db(transaction=True)
def test_esp_batches_are_one_call_per_language_with_its_version(bilingual, topic, esp):
    make_subscriber("lena@example.org", topic, name="Lena", language="de")
    make_subscriber("jonas@example.org", topic, name="Jonas", language="de")
    make_subscriber("sara@example.org", topic, name="Sara", language="en")
    services.launch_campaign(campaign=bilingual)
    calls = list(mail.outbox)
    assert len(calls) == 2 and all(m.anymail_test_params["is_batch_send"] for m in calls)
    german = next(m for m in calls if "Guten Tag" in m.body)
    english = next(m for m in calls if "Good day" in m.body)
    assert sorted(german.merge_data) == ["jonas@example.org", "lena@example.org"]
    assert list(english.merge_data) == ["sara@example.org"]
    assert merged(german.subject, german.merge_data["lena@example.org"]) == "Hallo Lena, Neues im Herbst"
    assert merged(english.subject, english.merge_data["sara@example.org"]) == "Hello Sara, autumn news"
    assert "Abmelden" in german.body and "Unsubscribe" in english.body
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_test_send_switches_version_with_the_language_or_subscriber(bilingual, topic, marketer, settings):
    settings.EMAIL_DELIVERY = "mailbox"
    make_subscriber("lena@example.org", topic, name="Lena", language="de")
    services.send_test(campaign=bilingual, addresses=["mara@example.org"], language="de", user=marketer)
    services.send_test(campaign=bilingual, addresses=["mara@example.org"], language="en", user=marketer)
    services.send_test(
        campaign=bilingual, addresses=["mara@example.org"], as_subscriber="lena@example.org", language="en"
    )
    subjects = list(CapturedMail.objects.order_by("pk").values_list("subject", flat=True))
    assert subjects == [
        "[TEST] Hallo Alex Sample, Neues im Herbst",
        "[TEST] Hello Alex Sample, autumn news",
        "[TEST] Hallo Lena, Neues im Herbst",  # her language decides, not the marketer's
    ]


@pytest.mark.django_db
def test_duplicates_and_templates_keep_the_versions(bilingual, marketer):
    copy = services.duplicate_campaign(campaign=bilingual, user=marketer)
    assert copy.default_language == "en"
    assert copy.versions.get().subject == GERMAN["subject"]
    template = services.save_as_template(campaign=bilingual, name="Bilingual", user=marketer)
    assert template.versions == {"de": GERMAN}
    snapshot = services.content_snapshot(bilingual)
    assert snapshot["default_language"] == "en" and snapshot["versions"] == {"de": GERMAN}


@pytest.mark.django_db
def test_the_archive_shows_the_readers_version(bilingual):
    assert "Guten Tag" in public_issue(bilingual, language="de").html
    assert "Good day" in public_issue(bilingual, language="en").text
