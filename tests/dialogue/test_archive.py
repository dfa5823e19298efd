"""The public archive, its Atom feed, and each subscriber's own web view of a mail."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.urls import reverse

from campaigns.models import CampaignVersion
from dialogue import links
from tests.dialogue.conftest import mails_to, send

pytestmark = pytest.mark.django_db


def _issue_url(w) -> str:
    return reverse("dialogue:issue", args=[w.topic.slug, w.campaign.pk])


def test_a_draft_is_not_on_the_archive(client, world):
    assert client.get(_issue_url(world)).status_code == 404
    page = client.get(reverse("dialogue:archive", args=[world.topic.slug]))
    assert page.status_code == 200 and world.campaign.subject not in page.content.decode()


def test_a_sent_issue_is_public_without_personal_data_or_tokens(client, world):
    send(world.campaign)
    listing = client.get(reverse("dialogue:archive", args=[world.topic.slug])).content.decode()
    assert "Energie im November" in listing
    page = client.get(_issue_url(world))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Hallo du, das ist November" in html  # personal parts rendered for an anonymous reader
    for personal in ("Karla", "karla.meier", "ben@example.com", "Ben Sample"):
        assert personal not in html
    # No signed link of anyone: no preference, unsubscribe or web view token, and no footer.
    assert "/preferences/" not in html and "/unsubscribe/" not in html and "/web/" not in html
    assert "data-rundbrief-footer" not in html


def test_only_public_topics_have_an_archive(client, world):
    assert client.get(reverse("dialogue:archive", args=[world.private_topic.slug])).status_code == 404
    world.campaign.topics.set([world.private_topic])
    send(world.campaign)
    assert (
        client.get(reverse("dialogue:issue", args=[world.private_topic.slug, world.campaign.pk])).status_code
        == 404
    )
    assert client.get(_issue_url(world)).status_code == 404


def test_the_atom_feed_lists_the_sent_issues(client, world):
    send(world.campaign)
    response = client.get(reverse("dialogue:feed", args=[world.topic.slug]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = feed.findall("a:entry", ns)
    assert [e.find("a:title", ns).text for e in entries] == ["Energie im November"]
    assert entries[0].find("a:link", ns).get("href").endswith(_issue_url(world))
    assert "karla" not in response.content.decode().lower()


def test_a_marketer_takes_an_issue_off_the_archive_and_puts_it_back(client, world):
    send(world.campaign)
    client.force_login(world.marketer)
    detail = client.get(reverse("campaigns:detail", args=[world.campaign.pk])).content.decode()
    assert "Take off the archive" in detail
    client.post(reverse("dialogue:campaign_archive", args=[world.campaign.pk]), {"action": "remove"})
    client.logout()
    assert client.get(_issue_url(world)).status_code == 404
    assert b"Energie im November" not in client.get(reverse("dialogue:feed", args=[world.topic.slug])).content
    client.force_login(world.marketer)
    client.post(reverse("dialogue:campaign_archive", args=[world.campaign.pk]), {"action": "restore"})
    client.logout()
    assert client.get(_issue_url(world)).status_code == 200


def test_only_marketers_can_take_an_issue_off(client, world):
    send(world.campaign)
    client.force_login(world.anna)  # staff, not a marketer
    response = client.post(
        reverse("dialogue:campaign_archive", args=[world.campaign.pk]), {"action": "remove"}
    )
    assert response.status_code == 403
    client.logout()
    assert client.get(_issue_url(world)).status_code == 200


def _web_link(mail) -> str:
    text = mail.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"(?:View in the browser|Im Browser ansehen): (\S+)", text).group(1)


def test_each_mail_links_to_the_subscribers_own_rendering(client, world):
    send(world.campaign)
    (mail,) = mails_to("karla.meier@example.org")
    url = _web_link(mail)
    html_part = mail.get_body(preferencelist=("html",)).get_content()
    assert url in html_part.replace("&amp;", "&")
    page = client.get(url.removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Hallo Karla Meier" in body and "karla.meier@example.org" in body  # her own rendering
    assert "/preferences/" in body  # with her working links
    assert page["Referrer-Policy"] == "no-referrer" and "noindex" in page["X-Robots-Tag"]
    assert "<form" not in body.split("<main", 1)[1].split("</main>", 1)[0]  # read-only


def test_a_web_view_link_shows_nothing_when_altered_or_for_a_mail_not_theirs(client, world):
    send(world.campaign)
    token = links.make_token(links.WEB_VIEW, world.karla.pk, world.campaign.pk)
    assert client.get(reverse("dialogue:web_view", args=[token[:-2] + "xx"])).status_code == 400
    # A token made for another purpose does not open the web view.
    other = links.make_token(links.LETTER, world.karla.pk, world.campaign.pk)
    assert client.get(reverse("dialogue:web_view", args=[other])).status_code == 400
    nobody = links.make_token(links.WEB_VIEW, 987654, world.campaign.pk)
    assert client.get(reverse("dialogue:web_view", args=[nobody])).status_code == 410


def test_a_web_view_link_expires(client, world, settings, frozen_clock):
    send(world.campaign)
    token = links.make_token(links.WEB_VIEW, world.karla.pk, world.campaign.pk)
    url = reverse("dialogue:web_view", args=[token])
    frozen_clock.shift(settings.PREFERENCES_LINK_MAX_AGE - timedelta(minutes=1))
    assert client.get(url).status_code == 200
    frozen_clock.shift(timedelta(minutes=2))
    assert client.get(url).status_code == 410


def test_the_archive_shows_the_readers_version_in_list_page_and_feed(client, world):
    """One campaign in two languages: the German archive shows the German subject line."""
    world.campaign.default_language = "de"
    world.campaign.save(update_fields=["default_language"])
    body = "<mj-section><mj-column><mj-text>Hello, this is November</mj-text></mj-column></mj-section>"
    CampaignVersion.objects.create(
        campaign=world.campaign, language="en", subject="Energy in November", mjml_body=body
    )
    send(world.campaign)
    archive = reverse("dialogue:archive", args=[world.topic.slug])
    german = client.get(archive, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    english = client.get(archive, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Energie im November" in german and "Energy in November" not in german
    assert "Energy in November" in english
    page = client.get(_issue_url(world), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<h1>Energy in November</h1>" in page and "Hello, this is November" in page
    feed = client.get(reverse("dialogue:feed", args=[world.topic.slug]), HTTP_ACCEPT_LANGUAGE="en")
    assert "Energy in November" in feed.content.decode()


def test_the_archive_list_reads_the_versions_once_not_per_issue(client, world, django_assert_max_num_queries):
    send(world.campaign)
    second = world.campaign
    second.pk = None
    second.save()
    second.topics.set([world.topic])
    archive = reverse("dialogue:archive", args=[world.topic.slug])
    client.get(archive)  # warm: sessions, the site's caches
    with django_assert_max_num_queries(8) as captured:
        client.get(archive, HTTP_ACCEPT_LANGUAGE="en")
    assert sum("campaigns_campaignversion" in q["sql"] for q in captured.captured_queries) == 1
