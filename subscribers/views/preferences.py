"""The preference centre behind the signed link in every mail.

One click changes topics, frequency, format, language, or unsubscribes. Erasure and the data
download are only requested here: their links are mailed to the address (views.data), so a
forwarded newsletter cannot erase anyone or hand out their data.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from subscribers import exports, selectors, services, tokens
from subscribers.attributes import AttributesForm
from subscribers.forms import PreferencesForm
from subscribers.models import Subscriber, Subscription
from subscribers.ratelimits import limit_subscribe_requests
from subscribers.services.optin import DELAYED, NOTHING_PENDING, SENT
from subscribers.views.common import (
    client_info,
    language_offer,
    link_problem,
    local_time,
    page_language,
    render_page,
    subscriber_or_none,
)


def preference_subscriber(request: HttpRequest, token: str) -> Subscriber | HttpResponse:
    """The subscriber of a valid preference link, or the page that explains what is wrong with it."""
    try:
        payload = tokens.read_token(tokens.PREFERENCES, token)
    except tokens.ExpiredToken as expired:
        subscriber = subscriber_or_none(expired.payload.subscriber_id)
        if subscriber is None:
            return link_problem(request, "gone", status=410)
        return link_problem(request, "preferences_expired", status=410, token=token, subscriber=subscriber)
    except tokens.InvalidToken:
        return link_problem(request, "invalid", status=400)
    return subscriber_or_none(payload.subscriber_id) or link_problem(request, "gone", status=410)


def confirmation_message(state: str, due_at) -> str:
    """What happened to the confirmation mail, in words (in the active language)."""
    if state == SENT:
        return _("We have sent you a mail to confirm. The topics start once you click its link.")
    if state == DELAYED:
        minutes = int(settings.CONFIRMATION_RESEND_WINDOW.total_seconds() // 60)
        return _(
            "We send at most one confirmation mail every %(minutes)d minutes, so yours goes out at "
            "%(time)s. The topics start once you click its link."
        ) % {"minutes": minutes, "time": local_time(due_at)}
    return _("Nothing is waiting for confirmation.")


def preferences_path(token: str) -> str:
    return reverse("subscribers:preferences", args=[token])


@csrf_exempt  # authorised by the signed link
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = preference_subscriber(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    language = page_language(request, subscriber)
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
            saved = services.update_preferences(
                subscriber=subscriber, **form.cleaned_data, **client_info(request)
            )
            messages.success(request, _("Your preferences are saved."))
            if saved.awaiting:
                messages.info(
                    request, confirmation_message(saved.confirmation_mail, saved.confirmation_due_at)
                )
            return redirect(request.path)
    subscriptions = list(selectors.subscriptions(subscriber))
    context = {
        "subscriber": subscriber,
        "form": form,
        "subscriptions": subscriptions,
        "pending": [s for s in subscriptions if s.status == Subscription.Status.PENDING],
        "history": selectors.consent_history(subscriber),
        "suppressed": selectors.is_suppressed(subscriber.email),
        "unsubscribe_url": tokens.unsubscribe_url(subscriber.pk, via=tokens.VIA_PREFERENCE_CENTRE),
        "export_summary": exports.summary(subscriber),
        "data_link_minutes": int(settings.DATA_LINK_MAX_AGE.total_seconds() // 60),
        "language_offer": language_offer(language, subscriber),
        "token": token,
    }
    with translation.override(language):
        context["attributes_form"] = AttributesForm(subscriber=subscriber)
    return render_page(request, "subscribers/preferences.html", context, subscriber=subscriber)


@csrf_exempt  # authorised by the signed link
@require_POST
def fields(request: HttpRequest, token: str) -> HttpResponse:
    """The subscriber's own values of the fields marketers defined: change or delete (empty)."""
    subscriber = preference_subscriber(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    with translation.override(page_language(request, subscriber)):
        form = AttributesForm(request.POST, subscriber=subscriber)
        if form.is_valid():
            services.update_attributes(
                subscriber=subscriber, values=form.cleaned_data["values"], **client_info(request)
            )
            messages.success(request, _("Your details are saved."))
        else:
            for field_errors in form.errors.values():
                for error in field_errors:
                    messages.error(request, error)
    return redirect(preferences_path(token))


@csrf_exempt  # authorised by the signed link
@require_POST
@limit_subscribe_requests
def resend_confirmation(request: HttpRequest, token: str) -> HttpResponse:
    """ "Send the confirmation again" for topics waiting for it: now, or once the window has passed."""
    subscriber = preference_subscriber(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    result = services.resend_confirmation(subscriber=subscriber)
    with translation.override(page_language(request, subscriber)):
        level = messages.INFO if result.state != NOTHING_PENDING else messages.WARNING
        messages.add_message(request, level, confirmation_message(result.state, result.due_at))
    return redirect(preferences_path(token))


@csrf_exempt  # authorised by the signed link
@require_POST
def mail_language(request: HttpRequest, token: str) -> HttpResponse:
    """ "Make German my language for mails" (offered when the page is read in another language)."""
    subscriber = preference_subscriber(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    language = request.POST.get("language", "")
    if language not in {code for code, _name in settings.LANGUAGES}:
        return link_problem(request, "invalid", status=400)
    services.set_mail_language(subscriber=subscriber, language=language, **client_info(request))
    with translation.override(page_language(request, subscriber)):
        name = translation.get_language_info(language)["name_translated"]
        messages.success(request, _("From now on our mails reach you in %(language)s.") % {"language": name})
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
        back = preferences_path(token)
    return redirect(back)


@csrf_exempt  # an expired link's signature still proves whose it was: the new one goes to that address
@require_POST
@limit_subscribe_requests
def new_preferences_link(request: HttpRequest, token: str) -> HttpResponse:
    try:
        payload = tokens.read_token(tokens.PREFERENCES, token, check_age=False)
    except tokens.InvalidToken:
        return link_problem(request, "invalid", status=400)
    subscriber = subscriber_or_none(payload.subscriber_id)
    if subscriber is None:
        return link_problem(request, "gone", status=410)
    claim = services.request_preferences_link(subscriber=subscriber)
    return render_page(
        request,
        "subscribers/link_sent.html",
        {"kind": "preferences", "claim": claim, "sent_time": local_time(claim.sent_at)},
        subscriber=subscriber,
    )


@require_http_methods(["GET"])
def old_json_download(request: HttpRequest, token: str) -> HttpResponse:
    """The old `data.json` address: the download is now a ZIP, requested by mail from the page."""
    subscriber = preference_subscriber(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    return redirect(preferences_path(token) + "#your-data")
