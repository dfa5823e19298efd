"""Sends a signed-in person who still owes a second factor to the page that takes it.

After django-otp's OTPMiddleware (which sets request.user.is_verified()): someone with an
authenticator app who has not entered a code in this session goes to the code page; someone
who must use two-factor login (rundbrief.accounts.policy) and has no app yet goes to the
set-up page. Nothing else is reachable until then, except logging out, switching the
language, static files, and the machine endpoints that have their own protection.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from rundbrief.accounts.policy import has_two_factor, two_factor_required

OPEN_PREFIXES = (
    "/accounts/two-factor/",
    "/accounts/logout/",
    "/i18n/",
    "/static/",
    "/healthz",
    "/metrics",
    "/webhooks/",
    "/api/",
)


class TwoFactorMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        redirect = self._redirect_for(request)
        return redirect or self.get_response(request)

    def _redirect_for(self, request: HttpRequest) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or request.path.startswith(OPEN_PREFIXES):
            return None
        if user.is_verified():
            return None
        if has_two_factor(user):
            target = reverse("accounts:verify")
        elif two_factor_required(user):
            target = reverse("accounts:setup")
        else:
            return None
        return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
