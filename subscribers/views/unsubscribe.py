"""The unsubscribe link (every mail's footer and List-Unsubscribe): it never expires.

GET shows the choices and never unsubscribes (link scanners fetch GETs); the RFC 8058
one-click POST and the page's buttons unsubscribe. The page offers leaving the mail's
topics, any single topic, or everything.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from subscribers import selectors, services, tokens
from subscribers.models import ConsentEvent, Subscriber, Subscription, Topic
from subscribers.ratelimits import limit_subscribe_requests
from subscribers.views.common import client_info, link_problem, local_time, render_page, subscriber_or_none

ONE_CLICK_BODY = b"List-Unsubscribe=One-Click"


def _is_one_click(request: HttpRequest) -> bool:
    """RFC 8058: the mail client POSTs the body `List-Unsubscribe=One-Click`."""
    if request.POST.get("List-Unsubscribe") == "One-Click":
        return True
    # Some clients send it without a form content type; the body is still readable then.
    return request.content_type != "multipart/form-data" and request.body.strip() == ONE_CLICK_BODY


def _preferences_link_is_fresh(payload: tokens.TokenPayload) -> bool:
    """An old unsubscribe link must not hand out a fresh preference link (those expire): then the
    page offers one by mail instead."""
    return timezone.now() - payload.issued_at < settings.PREFERENCES_LINK_MAX_AGE


@csrf_exempt  # RFC 8058: the one-click POST carries no cookies and no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        payload = tokens.read_token(tokens.UNSUBSCRIBE, token)
    except tokens.InvalidToken:
        if request.method == "POST" and _is_one_click(request):
            return HttpResponse("Invalid unsubscribe link.\n", status=400, content_type="text/plain")
        return link_problem(request, "invalid", status=400)
    subscriber = subscriber_or_none(payload.subscriber_id)
    details = {"campaign_id": payload.campaign_id} if payload.campaign_id is not None else {}

    if request.method == "POST" and _is_one_click(request):
        if subscriber is not None:  # erased already: nothing left to unsubscribe, still a success
            services.unsubscribe(
                subscriber=subscriber,
                topic_slugs=payload.topic_slugs,
                source=ConsentEvent.Source.ONE_CLICK,
                details=details,
                **client_info(request),
            )
        return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")

    if subscriber is None:
        return link_problem(request, "gone", status=410)
    context = _context(subscriber, payload, token)
    if request.method == "POST":
        slugs = _chosen_slugs(request, payload, context)
        if slugs is None:
            context["error"] = True
            return render_page(
                request, "subscribers/unsubscribe.html", context, subscriber=subscriber, status=400
            )
        # The page's buttons are clicked where the link was shown: a mail, or the preference centre.
        source = (
            ConsentEvent.Source.PREFERENCE_CENTRE
            if payload.via == tokens.VIA_PREFERENCE_CENTRE
            else ConsentEvent.Source.LINK
        )
        services.unsubscribe(
            subscriber=subscriber, topic_slugs=slugs, source=source, details=details, **client_info(request)
        )
        context["scope"] = "topics" if slugs else "everything"
        context["left"] = list(Topic.objects.filter(slug__in=slugs).order_by("name"))
        return render_page(request, "subscribers/unsubscribed.html", context, subscriber=subscriber)
    return render_page(request, "subscribers/unsubscribe.html", context, subscriber=subscriber)


def _context(subscriber: Subscriber, payload: tokens.TokenPayload, token: str) -> dict:
    live = [
        s.topic for s in selectors.subscriptions(subscriber).exclude(status=Subscription.Status.UNSUBSCRIBED)
    ]
    mail_topics = [topic for topic in live if topic.slug in payload.topic_slugs]
    return {
        "subscriber": subscriber,
        "token": token,
        "topics": mail_topics,  # the topics of the mail the link came in, still received
        "other_topics": [topic for topic in live if topic not in mail_topics],
        "all_topics": live,
        "unsubscribed": subscriber.status == Subscriber.Status.UNSUBSCRIBED,
        "preferences_url": tokens.preferences_url(subscriber.pk)
        if _preferences_link_is_fresh(payload)
        else "",
    }


def _chosen_slugs(
    request: HttpRequest, payload: tokens.TokenPayload, context: dict
) -> tuple[str, ...] | None:
    """The topics to leave (empty: everything), or None for a choice the page did not offer."""
    scope = request.POST.get("scope")
    if scope == "everything":
        return ()
    if scope == "topics" and payload.topic_slugs:
        return payload.topic_slugs
    if scope == "topic":
        slug = request.POST.get("topic", "")
        if slug in {topic.slug for topic in context["all_topics"]}:
            return (slug,)
    return None


@csrf_exempt  # authorised by the signed link
@require_POST
@limit_subscribe_requests
def preferences_link(request: HttpRequest, token: str) -> HttpResponse:
    """From an old unsubscribe link's page: mail a fresh preference link to the address."""
    try:
        payload = tokens.read_token(tokens.UNSUBSCRIBE, token)
    except tokens.InvalidToken:
        return link_problem(request, "invalid", status=400)
    subscriber = subscriber_or_none(payload.subscriber_id)
    if subscriber is None:
        return link_problem(request, "gone", status=410)
    claim = services.request_preferences_link(subscriber=subscriber)
    context = {"kind": "preferences", "claim": claim, "sent_time": local_time(claim.sent_at)}
    return render_page(request, "subscribers/link_sent.html", context, subscriber=subscriber)
