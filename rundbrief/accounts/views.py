"""Logging in with a password and, where set up or required, a code from an authenticator app.

A person with an authenticator app is not logged in after the password: the session only
remembers who they are for a few minutes (PENDING_KEY), and the login happens when the code
(or one recovery code) is right. Someone who must use two-factor login but has no app yet is
logged in and kept on the set-up page by the middleware until the app is confirmed.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from rundbrief.accounts import policy, qr, throttle
from rundbrief.accounts.forms import CodeForm, LoginForm

PENDING_KEY = "accounts_pending_login"
PENDING_SECONDS = 5 * 60
RECOVERY_CODES = 10


def _blocked_message(block: throttle.Blocked) -> str:
    minutes = max(1, (block.seconds_left + 59) // 60)
    if block.scope == "account":
        return ngettext(
            "Too many failed logins for this account. Please try again in %(minutes)d minute.",
            "Too many failed logins for this account. Please try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
    return ngettext(
        "Too many failed logins from your network. Please try again in %(minutes)d minute.",
        "Too many failed logins from your network. Please try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "registration/login.html"

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        block = throttle.blocked(request, request.POST.get("username", ""))
        if block is not None:
            form = self.get_form()
            return self.render_to_response(
                self.get_context_data(form=form, blocked_message=_blocked_message(block)), status=429
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        throttle.record_failure(self.request, form.data.get("username", ""))
        return super().form_invalid(form)

    def form_valid(self, form) -> HttpResponse:
        user = form.get_user()
        if not policy.has_two_factor(user):
            return super().form_valid(form)
        self.request.session.cycle_key()
        self.request.session[PENDING_KEY] = {"user": user.pk, "backend": user.backend, "at": time.time()}
        query = urlencode({"next": self.get_success_url()})
        return redirect(f"{reverse('accounts:verify')}?{query}")


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("home")


def _pending_user(request: HttpRequest):
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - float(pending.get("at", 0)) > PENDING_SECONDS:
        return None
    user = get_user_model().objects.filter(pk=pending.get("user"), is_active=True).first()
    if user is not None:
        user.backend = pending.get("backend")
    return user


class DevicesThrottled(Exception):
    """Every device that could take the code is waiting out its failures (django-otp)."""


def _matching_device(user, code: str):
    """The device that accepts the code: six digits are for the app, anything else a recovery code.

    Each device throttles its own failures (django-otp: the wait doubles after each one).
    """
    wanted = TOTPDevice if (code.isdigit() and len(code) == 6) else StaticDevice
    throttled = tried = 0
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            if not isinstance(device, wanted):
                continue
            tried += 1
            allowed, _details = device.verify_is_allowed()
            if not allowed:
                throttled += 1
            elif device.verify_token(code):
                return device
    if tried and throttled == tried:
        raise DevicesThrottled
    return None


def verify(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the app (or a recovery code)."""
    pending = _pending_user(request)
    user = pending or (request.user if request.user.is_authenticated else None)
    if user is None:
        messages.info(request, _("Please log in again."))
        return redirect("login")
    next_url = _next_url(request)
    if request.user.is_authenticated and request.user.is_verified():
        return redirect(next_url)
    form = CodeForm(request.POST or None)
    status, blocked_message = 200, ""
    if request.method == "POST":
        block = throttle.blocked(request, user.get_username())
        if block is not None:
            blocked_message, status = _blocked_message(block), 429
        elif form.is_valid():
            try:
                device = _matching_device(user, form.cleaned_data["code"])
            except DevicesThrottled:
                form.add_error("code", _("Too many wrong codes. Please wait a few seconds and try again."))
                status = 429
            else:
                if device is not None:
                    return _complete_login(
                        request, user, device, pending=pending is not None, next_url=next_url
                    )
                throttle.record_failure(request, user.get_username())
                form.add_error("code", _("This code is not right, or it was used already. Please try again."))
                status = 400
    return render(
        request,
        "accounts/verify.html",
        {"form": form, "next": next_url, "blocked_message": blocked_message},
        status=status,
    )


def _complete_login(request: HttpRequest, user, device, *, pending: bool, next_url: str) -> HttpResponse:
    if pending:
        auth_login(request, user, backend=user.backend)
        request.session.pop(PENDING_KEY, None)
    otp_login(request, device)
    if isinstance(device, StaticDevice):
        left = device.token_set.count()
        messages.warning(
            request,
            ngettext(
                "You used a recovery code; %(count)d is left. Make new ones on the security page.",
                "You used a recovery code; %(count)d are left. Make new ones on the security page.",
                left,
            )
            % {"count": left},
        )
    return redirect(next_url)


def _new_recovery_codes(user) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name=_("Recovery codes"), defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def _grouped(key_hex: str) -> str:
    """The app's key in Base32, in groups of four, for typing it in by hand."""
    encoded = base64.b32encode(bytes.fromhex(key_hex)).decode().rstrip("=")
    return " ".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@login_required
def setup(request: HttpRequest) -> HttpResponse:
    """Connect an authenticator app: scan the QR code (or type the key), confirm with a code."""
    user = request.user
    next_url = _next_url(request)
    if policy.has_two_factor(user):
        if not user.is_verified():
            return redirect(f"{reverse('accounts:verify')}?{urlencode({'next': next_url})}")
        return redirect("accounts:security")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_("Authenticator app"), confirmed=False)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        allowed, _details = device.verify_is_allowed()
        if not allowed:
            form.add_error("code", _("Too many wrong codes. Please wait a few seconds and try again."))
            status = 429
        elif device.verify_token(form.cleaned_data["code"]):
            with transaction.atomic():
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                TOTPDevice.objects.filter(user=user, confirmed=False).delete()
                codes = _new_recovery_codes(user)
            otp_login(request, device)
            return render(
                request,
                "accounts/recovery_codes.html",
                {"codes": codes, "next": next_url, "first_time": True},
            )
        else:
            throttle.record_failure(request, user.get_username())
            form.add_error("code", _("This code is not right. Check the time on your phone and try again."))
            status = 400
    context = {
        "form": form,
        "next": next_url,
        "required": policy.two_factor_required(user),
        "qr_svg": qr.svg(device.config_url, title=_("QR code for your authenticator app")),
        "key": _grouped(device.key),
    }
    return render(request, "accounts/setup.html", context, status=status)


@login_required
def security(request: HttpRequest) -> HttpResponse:
    """Two-factor login of the signed-in person: its state, new recovery codes, turning it off."""
    user = request.user
    enabled = policy.has_two_factor(user)
    if enabled and not user.is_verified():
        return redirect(f"{reverse('accounts:verify')}?{urlencode({'next': request.get_full_path()})}")
    context = {
        "enabled": enabled,
        "required": policy.two_factor_required(user),
        "recovery_left": policy.unused_recovery_codes(user) if enabled else 0,
    }
    return render(request, "accounts/security.html", context)


@require_POST
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not (policy.has_two_factor(user) and user.is_verified()):
        return redirect("accounts:security")
    codes = _new_recovery_codes(user)
    return render(
        request, "accounts/recovery_codes.html", {"codes": codes, "next": reverse("accounts:security")}
    )


@require_POST
@login_required
def disable(request: HttpRequest) -> HttpResponse:
    user = request.user
    if policy.two_factor_required(user):
        messages.error(request, _("Two-factor login is required for your account; it cannot be turned off."))
        return redirect("accounts:security")
    if policy.has_two_factor(user) and not user.is_verified():
        return redirect("accounts:security")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    messages.success(request, _("Two-factor login is turned off."))
    return redirect("accounts:security")
