"""Unknown variables are warned in the editor and refuse a launch; a preview address that is no
subscriber says the preview falls back to the sample."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns import services
from campaigns.models import Campaign
from campaigns.variables import unknown_variables

from .conftest import BODY, make_subscriber

pytestmark = pytest.mark.django_db(transaction=True)

TYPO = "<mj-section><mj-column>\n<mj-text>Hi {{ subscriber.firstname }}</mj-text>\n</mj-column></mj-section>"


def test_unknown_variables_are_found_with_part_line_and_a_suggestion():
    body = (
        "<mj-section><mj-column><mj-text>\n"
        "{% for t in subscriber.name %}{{ t }}{{ forloop.counter }}{% endfor %}\n"
        "{% with n=subscriber.name %}{{ n }}{% endwith %}{% if subscriber.nam %}x{% endif %}\n"
        "{% blocktranslate with a=contact.name %}Hi {{ a }}{% endblocktranslate %}\n"
        "{% translate 'x' as tx %}{{ tx }} {{ campaign.name }} {{ unsubscribe_url }}\n"
        "{{ subscriber.name.upper }}\n"
        "</mj-text></mj-column></mj-section>"
    )
    found = unknown_variables(mjml_body=body, subject="{{ subscriber.firstname|default:'friend' }}")
    assert [(p.part, p.line) for p in found] == [("template", 3), ("subject", 1)]
    assert found[0].message == (
        "Unknown variable {{ subscriber.nam }}: it would be empty in every mail. "
        "Did you mean {{ subscriber.name }}?"
    )
    assert (
        unknown_variables(mjml_body=BODY, subject="Hi {{ subscriber.name }}", preheader="{{ subject }}") == []
    )


def test_the_editor_warns_and_the_launch_is_refused(client, marketer, campaign, topic, settings):
    settings.EMAIL_DELIVERY = "mailbox"
    client.force_login(marketer)
    make_subscriber("a@example.org", topic)
    data = client.post(reverse("campaigns:preview"), {"mjml_body": TYPO, "topics": [topic.pk]}).json()
    assert data["errors"] == [] and data["warnings"][0]["line"] == 2
    assert "{{ subscriber.firstname }}" in data["warnings"][0]["message"]

    campaign.mjml_body = TYPO
    campaign.save()
    page = client.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert 'id="variable-problems"' in page
    assert "disabled" in page.split('id="launch"', 1)[1].split("</form>", 1)[0]
    response = client.post(
        reverse("campaigns:launch", args=[campaign.pk]), {"at": "", "confirmed": "1"}, follow=True
    )
    assert "variables no mail has" in response.content.decode()
    with pytest.raises(services.CampaignStateError):
        services.launch_campaign(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_a_preview_address_that_is_no_subscriber_says_so(client, marketer, topic):
    client.force_login(marketer)
    data = client.post(
        reverse("campaigns:preview"),
        {"mjml_body": BODY, "topics": [topic.pk], "preview_subscriber": "who@x.org"},
    ).json()
    assert data["recipient"]["found"] is False
    assert (
        data["recipient"]["note"]
        == "who@x.org is no subscriber: the preview shows the sample subscriber “Alex Sample”."
    )
    assert "Alex Sample" in data["text"]
    data = client.post(reverse("campaigns:preview"), {"mjml_body": BODY, "topics": [topic.pk]}).json()
    assert data["recipient"]["note"] == ""
