"""Login throttling: failed logins counted per account and per IP address in the shared cache.

django-ratelimit's counters (already used for signups) in fixed windows: a failed password or
code counts against the account's budget (LOGIN_FAILURES_PER_ACCOUNT) and the client address's
(LOGIN_FAILURES_PER_IP). While either is spent, the login refuses to check anything and says
for how long. Successful logins count nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

ACCOUNT_GROUP = "accounts.login.account"
IP_GROUP = "accounts.login.ip"


@dataclass(frozen=True)
class Blocked:
    scope: str  # "account" or "ip"
    seconds_left: int


def _account_key(username: str):
    normalised = (username or "").strip().lower()
    return lambda group, request: normalised


def _usages(request: HttpRequest, username: str, *, increment: bool) -> list[tuple[str, dict | None]]:
    return [
        (
            "account",
            get_usage(
                request,
                group=ACCOUNT_GROUP,
                key=_account_key(username),
                rate=settings.LOGIN_FAILURES_PER_ACCOUNT,
                increment=increment,
            ),
        ),
        (
            "ip",
            get_usage(
                request, group=IP_GROUP, key="ip", rate=settings.LOGIN_FAILURES_PER_IP, increment=increment
            ),
        ),
    ]


def blocked(request: HttpRequest, username: str) -> Blocked | None:
    """Is this account or this client out of attempts? (Checks without counting.)"""
    for scope, usage in _usages(request, username, increment=False):
        if usage is not None and usage["limit"] and usage["count"] >= usage["limit"]:
            return Blocked(scope=scope, seconds_left=max(1, int(usage["time_left"])))
    return None


def record_failure(request: HttpRequest, username: str) -> None:
    _usages(request, username, increment=True)
