"""The confirmation link: GET shows what will be confirmed, the button (POST) confirms."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from subscribers import selectors, services, tokens
from subscribers.models import Topic
from subscribers.ratelimits import limit_subscribe_requests
from subscribers.views.common import (
    client_info,
    language_offer,
    link_problem,
    page_language,
    render_page,
    subscriber_or_none,
)


@csrf_exempt  # authorised by the signed link (see views.common)
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """A GET never confirms: mail security scanners fetch links, and a click by a scanner is
    no proof of consent. A link confirms only the request it was sent for."""
    try:
        payload = tokens.read_confirm_token(token)
    except tokens.ExpiredToken:
        return link_problem(request, "expired", status=410, token=token)
    except tokens.InvalidToken:
        return link_problem(request, "invalid", status=400)
    subscriber = subscriber_or_none(payload.subscriber_id)
    if subscriber is None:
        return link_problem(request, "gone", status=410)
    requested_until = selectors.link_request_limit(payload)
    context = {
        "subscriber": subscriber,
        "preferences_url": tokens.preferences_url(subscriber.pk),
        "preferences_token": tokens.make_token(tokens.PREFERENCES, subscriber.pk),
        "language_offer": language_offer(page_language(request, subscriber), subscriber),
    }
    if request.method == "POST":
        result = services.confirm(
            subscriber_id=subscriber.pk,
            topic_slugs=payload.topic_slugs,
            requested_until=requested_until,
            **client_info(request),
        )
        context["topics"] = Topic.objects.filter(slug__in=result.confirmed_slugs).order_by("name")
        context["state"] = (
            "confirmed" if result.confirmed_slugs else "outdated" if result.outdated else "done"
        )
        return render_page(request, "subscribers/confirmed.html", context, subscriber=subscriber)
    check = selectors.confirmable(
        subscriber, topic_slugs=payload.topic_slugs, requested_until=requested_until
    )
    context["topics"] = [subscription.topic for subscription in check.subscriptions.select_related("topic")]
    context["state"] = "confirmable" if context["topics"] else "outdated" if check.outdated else "done"
    return render_page(request, "subscribers/confirm.html", context, subscriber=subscriber)


@csrf_exempt  # authorised by the signed link
@require_POST
@limit_subscribe_requests
def confirm_new_link(request: HttpRequest, token: str) -> HttpResponse:
    """From an expired link's page: mail a fresh link (the old signature still proves who asked)."""
    try:
        payload = tokens.read_token(tokens.CONFIRM, token, check_age=False)
    except tokens.InvalidToken:
        return link_problem(request, "invalid", status=400)
    subscriber = subscriber_or_none(payload.subscriber_id)
    if subscriber is None:
        return link_problem(request, "gone", status=410)
    services.resend_confirmation(subscriber=subscriber)
    return render_page(request, "subscribers/new_link_sent.html", subscriber=subscriber)
