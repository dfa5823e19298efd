"""Who must log in with a second factor, and which devices a person has (django-otp)."""

from __future__ import annotations

from django.conf import settings
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice


def two_factor_required(user) -> bool:
    """Superusers (TWO_FACTOR_REQUIRED_FOR_SUPERUSERS) and members of TWO_FACTOR_REQUIRED_GROUPS.

    Read at request time, so a changed setting (or a test) applies at once.
    """
    if not user.is_authenticated:
        return False
    if user.is_superuser and settings.TWO_FACTOR_REQUIRED_FOR_SUPERUSERS:
        return True
    groups = settings.TWO_FACTOR_REQUIRED_GROUPS
    return bool(groups) and user.groups.filter(name__in=groups).exists()


def has_two_factor(user) -> bool:
    """A confirmed authenticator app (recovery codes alone do not count)."""
    return user.is_authenticated and TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def authenticator(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def recovery_device(user) -> StaticDevice | None:
    return StaticDevice.objects.filter(user=user, confirmed=True).first()


def unused_recovery_codes(user) -> int:
    device = recovery_device(user)
    return device.token_set.count() if device else 0


def confirmed_devices(user) -> list:
    return list(devices_for_user(user, confirmed=True))
