"""What every subscriber page shares: the client info for the proof, the page language, link problems.

The pages behind a signed link are authorised by the link itself: a forged cross-site POST
would need the secret token, so CSRF cookies add nothing there and would only break people
who block cookies. Those views are csrf_exempt; the signup form keeps its CSRF protection.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import formats, timezone, translation

from rundbrief.http import client_ip
from subscribers.models import Subscriber


def client_info(request: HttpRequest) -> dict:
    """IP (behind our trusted proxies, see rundbrief.http) and user agent for the consent proof."""
    return {"ip": client_ip(request), "user_agent": request.META.get("HTTP_USER_AGENT", "")}


def chosen_language(request: HttpRequest) -> str | None:
    """The language the visitor picked with the DE/EN switch (its cookie), if any."""
    choice = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    return choice if choice in {code for code, _name in settings.LANGUAGES} else None


def page_language(request: HttpRequest, subscriber: Subscriber | None = None) -> str:
    """The visitor's explicit choice wins; else the subscriber's language for mails; else the request's."""
    if chosen := chosen_language(request):
        return chosen
    if subscriber is not None:
        return subscriber.language
    return translation.get_language()[:2]


def language_offer(language: str, subscriber: Subscriber) -> dict | None:
    """ "Make German my language for mails", when the page is read in another language than the mails."""
    if language == subscriber.language:
        return None
    return {"code": language, "name": translation.get_language_info(language)["name_translated"]}


def render_page(
    request: HttpRequest,
    template: str,
    context: dict | None = None,
    *,
    subscriber: Subscriber | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render in page_language(); Content-Language says which."""
    language = page_language(request, subscriber)
    with translation.override(language):
        response = render(request, template, context or {}, status=status)
    response.headers["Content-Language"] = language
    return response


def link_problem(
    request: HttpRequest,
    problem: str,
    *,
    status: int,
    token: str = "",
    subscriber: Subscriber | None = None,
) -> HttpResponse:
    """One page for every broken link: expired, altered, or pointing at nobody any more."""
    return render_page(
        request,
        "subscribers/link_problem.html",
        {"problem": problem, "token": token},
        subscriber=subscriber,
        status=status,
    )


def subscriber_or_none(subscriber_id: int) -> Subscriber | None:
    return Subscriber.objects.filter(pk=subscriber_id).first()


def local_time(moment) -> str:
    """A time of day for a page (when a mail went out, when a held-back one will)."""
    return formats.time_format(timezone.localtime(moment), "TIME_FORMAT")
