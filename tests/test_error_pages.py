"""Error pages (400, 403, 404, 500, CSRF) in the site's look and the visitor's language; the favicon."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import include, path

from rundbrief import errors


def _boom(request):
    raise RuntimeError("a bug in a view")


# A URL conf with one failing view, and the project's handlers (they are read from the root URL conf).
urlpatterns = [path("boom/", _boom), path("", include("rundbrief.urls"))]
handler400, handler403 = errors.bad_request, errors.permission_denied
handler404, handler500 = errors.page_not_found, errors.server_error


@pytest.fixture
def marketer(db) -> User:
    user = User.objects.create_user("mara", "mara@example.org", "pw", first_name="Mara", last_name="Keller")
    group, _ = Group.objects.get_or_create(name="Marketers")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="campaigns"))
    user.groups.add(group)
    return user


def _in_the_look(html: str) -> bool:
    return (
        'class="topbar"' in html
        and "css/rundbrief.css" in html
        and 'class="card narrow stack error-card"' in html
    )


@pytest.mark.parametrize(
    ("language", "heading", "explanation"),
    [
        ("en", "You may not open this page", "You are logged in as Mara Keller"),
        ("de", "Diese Seite dürfen Sie nicht öffnen", "Sie sind als Mara Keller angemeldet"),
    ],
)
def test_a_marketer_opening_the_inbox_gets_a_403_page_in_the_look(
    client, marketer, language, heading, explanation
):
    client.force_login(marketer)
    response = client.get("/inbox/", headers={"accept-language": language})
    assert response.status_code == 403
    html = response.content.decode()
    assert _in_the_look(html)
    assert f'<html lang="{language}">' in html
    assert heading in html and explanation in html
    assert 'href="/accounts/login/?next=/inbox/"' in html  # log in as someone else, back to the inbox


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "This page does not exist"), ("de", "Diese Seite gibt es nicht")]
)
def test_an_unknown_address_gets_the_404_page_not_the_debug_page(client, db, language, heading):
    response = client.get("/no-such-page/", headers={"accept-language": language})
    assert response.status_code == 404
    html = response.content.decode()
    assert _in_the_look(html) and heading in html
    assert "URLconf" not in html and "Page not found at" not in html  # Django's technical 404


@pytest.mark.parametrize(("language", "heading"), [("en", "Something went wrong"), ("de", "Bei uns ist")])
def test_a_failing_view_gets_the_500_page_with_the_navigation(db, settings, language, heading):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    response = client.get("/boom/", headers={"accept-language": language})
    assert response.status_code == 500
    html = response.content.decode()
    assert _in_the_look(html) and heading in html
    assert 'class="lang-switch"' in html  # rendered with the request, unlike Django's default
    assert "a bug in a view" not in html


def test_the_500_page_still_answers_when_rendering_with_the_request_fails(db, settings, monkeypatch):
    settings.ROOT_URLCONF = __name__

    def broken_render(*args, **kwargs):
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(errors, "render", broken_render)
    response = Client(raise_request_exception=False).get("/boom/", headers={"accept-language": "de"})
    assert response.status_code == 500
    html = response.content.decode()
    assert "css/rundbrief.css" in html and "Bei uns ist etwas schiefgegangen" in html


def test_a_bad_request_gets_the_400_page(client, db):
    response = errors.bad_request(Client().get("/").wsgi_request, None)
    assert response.status_code == 400
    assert _in_the_look(response.content.decode())


def test_a_form_without_csrf_token_gets_the_expired_form_page(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/accounts/login/", {"username": "x", "password": "y"}, headers={"accept-language": "de"}
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert _in_the_look(html) and "Dieses Formular ist abgelaufen" in html
    assert "CSRF verification failed" not in html


def test_favicon_is_served_and_linked(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "max-age" in response["Cache-Control"]
    page = client.get("/accounts/login/").content.decode()
    assert 'href="/favicon.ico"' in page and "favicon.svg" in page
