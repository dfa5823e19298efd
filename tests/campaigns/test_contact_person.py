"""Every campaign names its contact person (issue #10).

Before: without a contact person and without a sender name, the footer read
"Just reply to this mail:  will answer you personally." Now the editor asks for one (or a
first topic's owner), and a campaign without one (saved before) cannot be tested, launched or
started on schedule until it has one, and its page says so.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from campaigns import services
from campaigns.forms import CampaignForm
from campaigns.models import Campaign
from replies.models import StaffProfile
from subscribers.models import Topic

from .conftest import BODY, make_subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def ownerless_topic(db) -> Topic:
    return Topic.objects.create(slug="misc", name="Misc")


@pytest.fixture
def legacy(ownerless_topic, marketer) -> Campaign:
    """A campaign saved before the rule: no contact person, no sender name."""
    campaign = Campaign.objects.create(name="Alt", subject="Alt", mjml_body=BODY, created_by=marketer)
    campaign.topics.set([ownerless_topic])
    make_subscriber("eva@example.org", ownerless_topic)
    return campaign


def test_the_editor_requires_a_contact_person_from_those_who_answer_by_name(ownerless_topic, topic, marketer):
    staff, _ = Group.objects.get_or_create(name="Staff")
    managers, _ = Group.objects.get_or_create(name="Managers")
    lena = User.objects.create_user("lena", first_name="Lena", last_name="Fischer")
    lena.groups.add(staff)
    clara = User.objects.create_user("clara")
    StaffProfile.objects.create(user=clara, display_name="Clara V.")
    clara.groups.add(managers)
    User.objects.create_user("nameless").groups.add(staff)  # no name to sign the footer with
    User.objects.create_superuser("admin", "admin@example.org", "pw", first_name="Ad", last_name="Min")
    User.objects.create_user("gone", first_name="Gone", is_active=False).groups.add(staff)

    form = CampaignForm()
    assert [label for _pk, label in form.fields["contact"].choices][1:] == ["Clara V.", "Lena Fischer"]
    data = {"name": "N", "subject": "S", "mjml_body": BODY, "topics": [topic.pk]}
    form = CampaignForm(data)
    assert not form.is_valid()
    assert form.errors["contact"] == [
        "Choose the contact person: the footer of every mail names who answers replies."
    ]
    assert not CampaignForm({**data, "contact": marketer.pk}).is_valid()  # a marketer without a name
    assert CampaignForm({**data, "contact": lena.pk}).is_valid()


def test_a_campaign_without_a_contact_person_cannot_be_launched_or_tested(legacy, owner):
    with pytest.raises(services.CampaignStateError, match="no contact person"):
        services.launch_campaign(campaign=legacy)
    with pytest.raises(ValueError, match="no contact person"):
        services.send_test(campaign=legacy, addresses=["me@example.org"])
    legacy.refresh_from_db()
    assert legacy.status == Campaign.Status.DRAFT
    legacy.contact = owner
    legacy.save()
    assert services.launch_campaign(campaign=legacy).status == Campaign.Status.SENDING


def test_an_inactive_contact_person_must_be_replaced(legacy, owner):
    owner.is_active = False
    owner.save()
    legacy.contact = owner
    legacy.save()
    with pytest.raises(services.CampaignStateError, match="can no longer log in"):
        services.launch_campaign(campaign=legacy)


def test_a_scheduled_campaign_without_one_waits_and_starts_once_it_has_one(legacy, owner):
    Campaign.objects.filter(pk=legacy.pk).update(
        status=Campaign.Status.SCHEDULED, scheduled_at=timezone.now() - timedelta(minutes=1)
    )
    assert services.start_due_campaigns() == 0
    legacy.refresh_from_db()
    assert legacy.status == Campaign.Status.SCHEDULED
    legacy.contact = owner
    legacy.save()
    assert services.start_due_campaigns() == 1


def test_its_page_says_why_and_the_launch_button_is_off(client, marketer, legacy):
    client.force_login(marketer)
    page = client.get(
        reverse("campaigns:detail", args=[legacy.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert 'id="contact-problem"' in page
    assert "Diese Kampagne hat keine Ansprechperson" in page
    launch = page.split('id="launch"', 1)[1].split("</form>", 1)[0]
    assert "disabled" in launch
    response = client.post(
        reverse("campaigns:launch", args=[legacy.pk]), {"at": ""}, follow=True, HTTP_ACCEPT_LANGUAGE="de"
    )
    assert "keine Ansprechperson" in response.content.decode()


def test_the_preview_shows_where_the_name_goes_until_one_is_chosen(client, marketer, ownerless_topic):
    client.force_login(marketer)
    data = client.post(
        reverse("campaigns:preview"), {"mjml_body": BODY, "topics": [ownerless_topic.pk]}
    ).json()
    assert "Just reply to this mail: (contact person) will answer you personally." in data["text"]
    assert ":  will answer" not in data["html"]
