"""The signup page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.http import require_http_methods

from subscribers import selectors, services
from subscribers.forms import SignupForm
from subscribers.models import ConsentEvent
from subscribers.ratelimits import limit_subscribe_requests
from subscribers.views.common import client_info


@limit_subscribe_requests
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    language = translation.get_language()[:2]
    try:
        consent = selectors.current_consent_text(language)
    except selectors.NoConsentText:
        return render(request, "subscribers/signup_closed.html", status=503)
    if request.method == "POST":
        form = SignupForm(request.POST, page_language=language)
        if form.is_valid():
            # Bots that filled the honeypot get the same answer as everyone, and nothing happens.
            if not form.is_bot:
                # Known or not, the same small step here; a worker does the rest (same time for all).
                services.submit_subscription_request(
                    email=form.cleaned_data["email"],
                    topics=list(form.cleaned_data["topics"]),
                    name=form.cleaned_data["name"],
                    language=form.cleaned_data["language"],
                    source=ConsentEvent.Source.FORM,
                    consent=form.consent,
                    attributes=form.attribute_values(),
                    **client_info(request),
                )
            return redirect("subscribers:signup_done")
    else:
        form = SignupForm(page_language=language, initial={"language": language})
    return render(request, "subscribers/signup.html", {"form": form, "consent": consent})


def signup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/signup_done.html")
