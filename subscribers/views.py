"""Public pages: signup, confirmation, preference centre, unsubscribe. Thin: services do the work."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from subscribers import selectors, services, tokens
from subscribers.forms import PreferencesForm, SignupForm
from subscribers.models import ConsentEvent, Subscriber, Topic
from subscribers.ratelimits import limit_subscribe_requests

ONE_CLICK_BODY = b"List-Unsubscribe=One-Click"

# The pages behind a signed link are authorised by the link itself: a forged cross-site POST
# would need the secret token, so CSRF cookies add nothing there and would only break people
# who block cookies. Those views are csrf_exempt; the signup form keeps its CSRF protection.


def client_info(request: HttpRequest) -> dict:
    """IP and user agent for the consent proof."""
    return {
        "ip": request.META.get("REMOTE_ADDR") or None,
        "user_agent": request.META.get("HTTP_USER_AGENT", ""),
    }


def page_language() -> str:
    return translation.get_language()[:2]


def render_in(
    request: HttpRequest, language: str, template: str, context: dict | None = None, status: int = 200
) -> HttpResponse:
    """Render in the subscriber's language rather than the browser's: they chose it."""
    with translation.override(language):
        response = render(request, template, context or {}, status=status)
    response.headers["Content-Language"] = language
    return response


def link_problem(request: HttpRequest, problem: str, *, status: int, token: str = "") -> HttpResponse:
    """One page for every broken link: expired, altered, or pointing at nobody any more."""
    return render(
        request, "subscribers/link_problem.html", {"problem": problem, "token": token}, status=status
    )


def subscriber_or_none(subscriber_id: int) -> Subscriber | None:
    return Subscriber.objects.filter(pk=subscriber_id).first()


# --- Signup -------------------------------------------------------------------------------


@limit_subscribe_requests
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    language = page_language()
    try:
        consent = selectors.current_consent_text(language)
    except selectors.NoConsentText:
        return render(request, "subscribers/signup_closed.html", status=503)
    if request.method == "POST":
        form = SignupForm(request.POST, page_language=language)
        if form.is_valid():
            # Bots that filled the honeypot get the same answer as everyone, and nothing happens.
            if not form.is_bot:
                services.request_subscription(
                    email=form.cleaned_data["email"],
                    topics=list(form.cleaned_data["topics"]),
                    name=form.cleaned_data["name"],
                    language=form.cleaned_data["language"],
                    source=ConsentEvent.Source.FORM,
                    consent=form.consent,
                    **client_info(request),
                )
            return redirect("subscribers:signup_done")
    else:
        form = SignupForm(page_language=language, initial={"language": language})
    return render(request, "subscribers/signup.html", {"form": form, "consent": consent})


def signup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/signup_done.html")


# --- Confirmation -------------------------------------------------------------------------


@csrf_exempt  # authorised by the signed link (see above)
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows what will be confirmed; the button (POST) confirms and records the click.

    A GET never confirms: mail security scanners fetch links, and a click by a scanner is
    no proof of consent.
    """
    try:
        payload = tokens.read_confirm_token(token)
    except tokens.ExpiredToken:
        return link_problem(request, "expired", status=410, token=token)
    except tokens.InvalidToken:
        return link_problem(request, "invalid", status=400)
    subscriber = subscriber_or_none(payload.subscriber_id)
    if subscriber is None:
        return link_problem(request, "gone", status=410)
    context = {"subscriber": subscriber, "preferences_url": tokens.preferences_url(subscriber.pk)}
    if request.method == "POST":
        result = services.confirm(
            subscriber_id=subscriber.pk, topic_slugs=payload.topic_slugs, **client_info(request)
        )
        context["topics"] = Topic.objects.filter(slug__in=result.confirmed_slugs)
        context["already"] = not result.confirmed_slugs
        return render_in(request, subscriber.language, "subscribers/confirmed.html", context)
    pending = selectors.subscriptions(subscriber).filter(status="pending")
    if payload.topic_slugs:
        pending = pending.filter(topic__slug__in=payload.topic_slugs)
    context["topics"] = [subscription.topic for subscription in pending]
    context["already"] = not context["topics"]
    return render_in(request, subscriber.language, "subscribers/confirm.html", context)


@csrf_exempt  # authorised by the signed link
@require_POST
@limit_subscribe_requests
def confirm_new_link(request: HttpRequest, token: str) -> HttpResponse:
    """From an expired link's page: mail a fresh link (the old signature still proves who asked)."""
    try:
        payload = tokens.read_token(tokens.CONFIRM, token)
    except tokens.InvalidToken:
        return link_problem(request, "invalid", status=400)
    subscriber = subscriber_or_none(payload.subscriber_id)
    if subscriber is None:
        return link_problem(request, "gone", status=410)
    services.resend_confirmation(subscriber=subscriber)
    return render_in(request, subscriber.language, "subscribers/new_link_sent.html")


# --- Preference centre --------------------------------------------------------------------


def _preference_subscriber(request: HttpRequest, token: str) -> Subscriber | HttpResponse:
    try:
        payload = tokens.read_token(tokens.PREFERENCES, token)
    except tokens.InvalidToken:
        return link_problem(request, "invalid", status=400)
    return subscriber_or_none(payload.subscriber_id) or link_problem(request, "gone", status=410)


@csrf_exempt  # authorised by the signed link
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = _preference_subscriber(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    language = subscriber.language
    with translation.override(language):
        subscribed = selectors.subscriptions(subscriber).exclude(status="unsubscribed")
        initial = {
            "topics": [subscription.topic_id for subscription in subscribed],
            "frequency": subscriber.frequency,
            "frequency_limit": subscriber.frequency_limit,
            "paused_until": subscriber.paused_until,
            "format": subscriber.format,
            "name": subscriber.name,
            "language": subscriber.language,
        }
        data = request.POST if request.method == "POST" else None
        form = PreferencesForm(data, subscriber=subscriber, initial=initial)
        if request.method == "POST" and form.is_valid():
            awaiting = services.update_preferences(
                subscriber=subscriber, **form.cleaned_data, **client_info(request)
            )
            with translation.override(form.cleaned_data["language"]):
                messages.success(request, _("Your preferences are saved."))
                if awaiting:
                    messages.info(
                        request,
                        _("We have sent you a mail to confirm the new topics. They start once you confirm."),
                    )
            return redirect(request.path)
    context = {
        "subscriber": subscriber,
        "form": form,
        "subscriptions": selectors.subscriptions(subscriber),
        "history": selectors.consent_history(subscriber),
        "suppressed": selectors.is_suppressed(subscriber.email),
        "unsubscribe_url": tokens.unsubscribe_url(subscriber.pk),
        "token": token,
    }
    return render_in(request, language, "subscribers/preferences.html", context)


@require_http_methods(["GET"])
def preferences_export(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = _preference_subscriber(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    response = JsonResponse(selectors.subscriber_export(subscriber), json_dumps_params={"indent": 2})
    response.headers["Content-Disposition"] = 'attachment; filename="rundbrief-my-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # authorised by the signed link
@require_http_methods(["GET", "POST"])
def preferences_erase(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = _preference_subscriber(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    if request.method == "POST":
        services.erase(subscriber=subscriber, source=ConsentEvent.Source.PREFERENCE_CENTRE)
        return render_in(request, subscriber.language, "subscribers/erased.html")
    context = {"subscriber": subscriber, "preferences_path": reverse("subscribers:preferences", args=[token])}
    return render_in(request, subscriber.language, "subscribers/erase_confirm.html", context)


# --- Unsubscribe --------------------------------------------------------------------------


def _is_one_click(request: HttpRequest) -> bool:
    """RFC 8058: the mail client POSTs the body `List-Unsubscribe=One-Click`."""
    if request.POST.get("List-Unsubscribe") == "One-Click":
        return True
    # Some clients send it without a form content type; the body is still readable then.
    return request.content_type != "multipart/form-data" and request.body.strip() == ONE_CLICK_BODY


@csrf_exempt  # RFC 8058: the one-click POST carries no cookies and no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the choice and never unsubscribes (link scanners fetch GETs); POST unsubscribes."""
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
    topics = list(Topic.objects.filter(slug__in=payload.topic_slugs).order_by("name"))
    context = {
        "subscriber": subscriber,
        "topics": topics,
        "preferences_url": tokens.preferences_url(subscriber.pk),
    }
    if request.method == "POST":
        scope = request.POST.get("scope")
        if scope not in ("topics", "everything"):
            context["error"] = True
            return render_in(
                request, subscriber.language, "subscribers/unsubscribe.html", context, status=400
            )
        slugs = payload.topic_slugs if scope == "topics" else ()
        services.unsubscribe(
            subscriber=subscriber,
            topic_slugs=slugs,
            source=ConsentEvent.Source.LINK,
            details=details,
            **client_info(request),
        )
        context["scope"] = "topics" if slugs else "everything"
        return render_in(request, subscriber.language, "subscribers/unsubscribed.html", context)
    return render_in(request, subscriber.language, "subscribers/unsubscribe.html", context)
