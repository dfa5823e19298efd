"""Erasure and data download: requested in the preference centre, done through a mailed link.

preferences/<token>/erase/ and preferences/<token>/export/ only mail a fresh, short-lived
link (tokens.ERASE / tokens.EXPORT, DATA_LINK_MAX_AGE) to the subscriber's address; the
link's page (erase/<token>/, export/<token>/) does the work on its button.
"""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from subscribers import exports, services, tokens
from subscribers.models import ConsentEvent, Subscriber
from subscribers.ratelimits import limit_subscribe_requests
from subscribers.views.common import link_problem, local_time, render_page, subscriber_or_none
from subscribers.views.preferences import preference_subscriber, preferences_path


def _minutes() -> int:
    return int(settings.DATA_LINK_MAX_AGE.total_seconds() // 60)


def _link_sent(request: HttpRequest, subscriber: Subscriber, kind: str, token: str) -> HttpResponse:
    claim = services.request_data_link(subscriber=subscriber, action=kind)
    context = {
        "kind": kind,
        "claim": claim,
        "sent_time": local_time(claim.sent_at),
        "subscriber": subscriber,
        "minutes": _minutes(),
        "preferences_path": preferences_path(token),
    }
    return render_page(request, "subscribers/link_sent.html", context, subscriber=subscriber)


@csrf_exempt  # authorised by the signed link
@require_http_methods(["GET", "POST"])
@limit_subscribe_requests
def request_erasure(request: HttpRequest, token: str) -> HttpResponse:
    """GET explains what erasure means; the button mails the link that confirms it."""
    subscriber = preference_subscriber(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    if request.method == "POST":
        return _link_sent(request, subscriber, tokens.ERASE, token)
    context = {"subscriber": subscriber, "preferences_path": preferences_path(token), "minutes": _minutes()}
    return render_page(request, "subscribers/erase_request.html", context, subscriber=subscriber)


@csrf_exempt  # authorised by the signed link
@require_POST
@limit_subscribe_requests
def request_export(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = preference_subscriber(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    return _link_sent(request, subscriber, tokens.EXPORT, token)


def _data_link_subscriber(request: HttpRequest, purpose: str, token: str) -> Subscriber | HttpResponse:
    try:
        payload = tokens.read_token(purpose, token)
    except tokens.ExpiredToken:
        return link_problem(request, "data_expired", status=410)
    except tokens.InvalidToken:
        return link_problem(request, "invalid", status=400)
    return subscriber_or_none(payload.subscriber_id) or link_problem(request, "gone", status=410)


@csrf_exempt  # authorised by the mailed link
@require_http_methods(["GET", "POST"])
def erase(request: HttpRequest, token: str) -> HttpResponse:
    """The mailed erasure link: GET asks once more (link scanners fetch GETs), POST erases."""
    subscriber = _data_link_subscriber(request, tokens.ERASE, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    if request.method == "POST":
        services.erase(subscriber=subscriber, source=ConsentEvent.Source.PREFERENCE_CENTRE)
        return render_page(request, "subscribers/erased.html", subscriber=subscriber)
    preferences = reverse(
        "subscribers:preferences", args=[tokens.make_token(tokens.PREFERENCES, subscriber.pk)]
    )
    context = {"subscriber": subscriber, "preferences_path": preferences}
    return render_page(request, "subscribers/erase_confirm.html", context, subscriber=subscriber)


@csrf_exempt  # authorised by the mailed link
@require_http_methods(["GET", "POST"])
def export(request: HttpRequest, token: str) -> HttpResponse:
    """The mailed download link: GET shows what the ZIP contains, the button (POST) downloads it."""
    subscriber = _data_link_subscriber(request, tokens.EXPORT, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    if request.method == "POST":
        response = FileResponse(
            exports.build_archive(subscriber),
            as_attachment=True,
            filename="rundbrief-my-data.zip",
            content_type="application/zip",
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    context = {"subscriber": subscriber, "export_summary": exports.summary(subscriber), "minutes": _minutes()}
    return render_page(request, "subscribers/export.html", context, subscriber=subscriber)
