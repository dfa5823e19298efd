"""Outside a DEBUG run the mailbox is for admin staff only: it shows every mail's links."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_like(settings):
    settings.DEBUG = False


def test_anonymous_visitors_are_sent_to_the_login_page(client, production_like, newsletter):
    for url in (
        reverse("mailbox:list"),
        reverse("mailbox:detail", args=[newsletter.pk]),
        reverse("mailbox:raw", args=[newsletter.pk]),
        reverse("mailbox:reply", args=[newsletter.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_signed_in_non_staff_are_refused_and_staff_get_in(client, production_like, newsletter):
    user = get_user_model().objects.create_user("someone", password="pw")
    client.force_login(user)
    assert client.get(reverse("mailbox:list")).status_code == 403
    user.is_staff = True
    user.save()
    assert client.get(reverse("mailbox:list")).status_code == 200
