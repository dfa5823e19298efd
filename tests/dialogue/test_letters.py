"""Reader letters: staff propose an excerpt, only the subscriber's POST publishes it; withdrawal and
erasure remove it everywhere; marketers put letters into an issue with <mj-rundbrief-letters>."""

from __future__ import annotations

import re

import pytest
from django.test import TestCase
from django.urls import reverse

from campaigns.rendering import compile_campaign
from campaigns.services import save_campaign
from dialogue.models import LetterConsent, ReaderLetter
from dialogue.services.letters import WORDING_VERSION, is_excerpt, signature_for
from subscribers.services import erase
from tests.dialogue.conftest import mails_to, reply, send

pytestmark = pytest.mark.django_db

REPLY = "Danke für den Rundbrief! Die Wärmepumpe läuft seit Oktober, und wir sparen schon jetzt viel Geld."
EXCERPT = "Die Wärmepumpe läuft seit Oktober, und wir sparen … viel Geld."
LETTERS_BODY = """<mj-section><mj-column><mj-text>Neues aus der Redaktion.</mj-text></mj-column></mj-section>
<mj-rundbrief-letters topic="energie" count="3"/>"""


def test_an_excerpt_may_leave_words_out_but_never_change_or_add_any():
    assert is_excerpt(EXCERPT, REPLY)
    assert is_excerpt("Die Wärmepumpe läuft [...] Geld.", REPLY)
    assert not is_excerpt("Die Wärmepumpe läuft seit November.", REPLY)  # a changed word
    assert not is_excerpt("Die Wärmepumpe läuft super seit Oktober.", REPLY)  # an added word
    assert not is_excerpt("seit Oktober läuft die Wärmepumpe", REPLY)  # reordered


def test_signatures():
    assert signature_for(kind="full_name", name="Karla  Meier", town="") == "Karla Meier"
    assert signature_for(kind="initials_town", name="Karla Meier", town="Bonn") == "K. M., Bonn"
    assert signature_for(kind="initials_town", name="Karla Meier-Lenz", town="") == "K. M. L."
    assert signature_for(kind="anonymous", name="Karla Meier", town="Bonn") == ""


def _propose(client, w, conversation, *, text=EXCERPT, signature="initials_town", town="Bonn"):
    message = conversation.messages.get(direction="in")
    client.force_login(w.anna)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("dialogue:propose_letter", args=[conversation.pk]),
            {
                "message": message.pk,
                "text": text,
                "signature_kind": signature,
                "town": town,
                "topic": w.topic.pk,
            },
        )
    client.logout()
    assert response.status_code == 302
    return ReaderLetter.objects.filter(conversation=conversation).first()


def _letter_link(address: str) -> str:
    mail = mails_to(address)[-1]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://127\.0\.0\.1:8000(/letters/\S+)", text).group(1)


@pytest.fixture
def proposed(client, world):
    send(world.campaign)
    conversation = reply(world.karla, world.campaign, REPLY)
    letter = _propose(client, world, conversation)
    return letter


def test_staff_propose_and_the_subscriber_is_asked_with_the_exact_text(client, world, proposed):
    assert proposed.status == "proposed" and proposed.text == EXCERPT and proposed.signature == "K. M., Bonn"
    (mail,) = [
        m
        for m in mails_to("karla.meier@example.org")
        if "reader letter" in m["Subject"].lower() or "Leserbrief" in m["Subject"]
    ]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert EXCERPT in text and "K. M., Bonn" in text
    requested = LetterConsent.objects.get(letter=proposed)
    assert (requested.kind, requested.text, requested.signature, requested.wording_version) == (
        "requested",
        EXCERPT,
        "K. M., Bonn",
        WORDING_VERSION,
    )
    page = client.get(_letter_link("karla.meier@example.org"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Die Wärmepumpe läuft seit Oktober, und wir sparen … viel Geld." in body and "K. M., Bonn" in body


def test_a_changed_text_is_refused(client, world):
    send(world.campaign)
    conversation = reply(world.karla, world.campaign, REPLY)
    assert _propose(client, world, conversation, text="Die Wärmepumpe ist toll.") is None


def test_nothing_is_published_without_the_post(client, world, proposed):
    url = _letter_link("karla.meier@example.org")
    client.get(url)
    client.get(url + "?action=consent")
    proposed.refresh_from_db()
    assert proposed.status == "proposed" and proposed.published_at is None
    # The editor preview and the archive show no letter that has not been agreed to.
    compiled = compile_campaign(mjml_body=LETTERS_BODY)
    assert EXCERPT not in compiled.render({"subscriber": {"name": "", "email": ""}}).html


def test_consent_publishes_withdrawal_removes_from_archive_and_later_sends(client, world, proposed):
    url = _letter_link("karla.meier@example.org")
    page = client.get(url).content.decode()
    shown = re.search(r'name="shown" value="([0-9a-f]+)"', page).group(1)
    response = client.post(url, {"action": "consent", "shown": shown}, REMOTE_ADDR="192.0.2.9")
    assert response.status_code == 302
    proposed.refresh_from_db()
    assert proposed.status == "published"
    given = LetterConsent.objects.get(letter=proposed, kind="given")
    assert (given.text, given.signature, given.wording_version, given.ip_address) == (
        EXCERPT,
        "K. M., Bonn",
        WORDING_VERSION,
        "192.0.2.9",
    )

    # The marketer puts it into the next issue; the editor preview shows it.
    client.force_login(world.marketer)
    preview = client.post(
        reverse("campaigns:preview"), {"mjml_body": LETTERS_BODY, "topics": [world.topic.pk]}
    )
    assert "Die Wärmepumpe läuft seit Oktober" in preview.json()["html"]
    assert "K. M., Bonn" in preview.json()["html"]
    client.logout()
    december = save_campaign(
        name="Dezember",
        topics=[world.topic],
        subject="Energie im Dezember",
        mjml_body=LETTERS_BODY,
        contact=world.anna,
        user=world.marketer,
    )
    send(december)
    (mail,) = [m for m in mails_to("ben@example.com") if m["Subject"] == "Energie im Dezember"]
    assert "K. M., Bonn" in mail.get_body(preferencelist=("plain",)).get_content()
    issue = reverse("dialogue:issue", args=[world.topic.slug, december.pk])
    assert "K. M., Bonn" in client.get(issue).content.decode()
    # Ben answers about the letter: staff see which letter the issue carried.
    about = reply(world.ben, december, "About the letter from K. M.: we saved too.")
    client.force_login(world.anna)
    staff_page = client.get(reverse("replies:conversation", args=[about.pk])).content.decode()
    assert 'data-testid="issue-letters"' in staff_page and "K. M., Bonn" in staff_page
    client.logout()

    # She withdraws on the page: gone from the archive and from the next send.
    response = client.post(url, {"action": "withdraw"})
    assert response.status_code == 302
    proposed.refresh_from_db()
    assert proposed.status == "withdrawn"
    assert LetterConsent.objects.filter(letter=proposed, kind="withdrawn").count() == 1
    assert "K. M., Bonn" not in client.get(issue).content.decode()
    assert "Wärmepumpe" not in client.get(issue).content.decode()
    january = save_campaign(
        name="Januar",
        topics=[world.topic],
        subject="Energie im Januar",
        mjml_body=LETTERS_BODY,
        contact=world.anna,
        user=world.marketer,
    )
    send(january)
    (mail,) = [m for m in mails_to("ben@example.com") if m["Subject"] == "Energie im Januar"]
    assert "Wärmepumpe" not in mail.get_body(preferencelist=("plain",)).get_content()


def test_a_stale_page_cannot_consent_to_another_text(client, world, proposed):
    url = _letter_link("karla.meier@example.org")
    response = client.post(url, {"action": "consent", "shown": "0" * 64})
    assert response.status_code == 409
    proposed.refresh_from_db()
    assert proposed.status == "proposed"


def test_declining_publishes_nothing(client, world, proposed):
    client.post(_letter_link("karla.meier@example.org"), {"action": "decline"})
    proposed.refresh_from_db()
    assert proposed.status == "declined" and proposed.published_at is None
    assert LetterConsent.objects.filter(letter=proposed, kind="declined").exists()


def test_withdraw_from_the_preference_centre(client, world, proposed):
    from subscribers.tokens import PREFERENCES, make_token

    url = _letter_link("karla.meier@example.org")
    shown = re.search(r'name="shown" value="([0-9a-f]+)"', client.get(url).content.decode()).group(1)
    client.post(url, {"action": "consent", "shown": shown})
    preferences = reverse("subscribers:preferences", args=[make_token(PREFERENCES, world.karla.pk)])
    page = client.get(preferences).content.decode()
    assert "My reader letters" in page or "Meine Leserbriefe" in page
    action = re.search(r'<form method="post" action="(/letters/[^"]+)"', page).group(1)
    response = client.post(action, {"action": "withdraw", "via": "pc", "next": preferences})
    assert response.status_code == 302 and response["Location"] == preferences
    proposed.refresh_from_db()
    assert proposed.status == "withdrawn"
    assert LetterConsent.objects.get(letter=proposed, kind="withdrawn").source == "preference_centre"


def test_erasure_deletes_letters_and_their_consent_records(client, world, proposed):
    erase(subscriber=world.karla, source="preference_centre")
    assert not ReaderLetter.objects.exists()
    assert not LetterConsent.objects.exists()


def test_a_letter_link_of_another_subscriber_shows_nothing(client, world, proposed):
    from dialogue import links

    token = links.make_token(links.LETTER, world.ben.pk, proposed.pk)
    assert client.get(reverse("dialogue:letter", args=[token])).status_code == 410


def test_only_staff_who_see_the_conversation_may_propose(client, world):
    send(world.campaign)
    conversation = reply(world.karla, world.campaign, REPLY)
    client.force_login(world.marketer)
    response = client.post(reverse("dialogue:propose_letter", args=[conversation.pk]), {"text": EXCERPT})
    assert response.status_code == 403
