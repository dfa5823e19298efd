"""A new campaign starts from a starter layout or a saved template, never an empty editor; any
campaign can be saved as a template."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignTemplate
from campaigns.rendering import compile_campaign
from campaigns.starters import STARTERS

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_marketer(client, marketer):
    client.force_login(marketer)
    return client


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("layout", STARTERS, ids=lambda s: s.slug)
def test_every_starter_layout_compiles_in_every_language(layout, language):
    compile_campaign(mjml_body=layout.mjml(language), contact_name="Anna")


def test_the_chooser_offers_layouts_and_templates_and_the_editor_starts_from_them(client_marketer, campaign):
    list_page = client_marketer.get(reverse("campaigns:list")).content.decode()
    assert reverse("campaigns:start") in list_page
    page = client_marketer.get(reverse("campaigns:start")).content.decode()
    assert 'data-starter="newsletter"' in page and "No templates yet" in page

    editor = client_marketer.get(reverse("campaigns:create") + "?starter=newsletter").content.decode()
    assert "Read the whole story" in editor
    german = client_marketer.get(
        reverse("campaigns:create") + "?starter=newsletter", HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert "Die ganze Geschichte lesen" in german
    plain = client_marketer.get(reverse("campaigns:create")).content.decode()
    assert "Write your letter here" in plain  # no choice: the first layout, not an empty editor

    client_marketer.post(
        reverse("campaigns:save_template", args=[campaign.pk]), {"template_name": "Herbst-Vorlage"}
    )
    template = CampaignTemplate.objects.get()
    assert (template.name, template.subject, template.mjml_body) == (
        "Herbst-Vorlage",
        campaign.subject,
        campaign.mjml_body,
    )
    page = client_marketer.get(reverse("campaigns:start")).content.decode()
    assert f'data-template="{template.pk}"' in page
    editor = client_marketer.get(reverse("campaigns:create") + f"?template={template.pk}").content.decode()
    assert "Neues im Herbst" in editor and "das ist {{ campaign.name }}" in editor


def test_a_sent_campaign_can_be_saved_as_a_template(client_marketer, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT)
    client_marketer.post(reverse("campaigns:save_template", args=[campaign.pk]), {"template_name": ""})
    assert CampaignTemplate.objects.get().name == "Herbst"
