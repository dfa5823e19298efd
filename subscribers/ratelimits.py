"""Per-IP rate limit for everything that can trigger a confirmation mail (django-ratelimit)."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.utils.module_loading import import_string
from django_ratelimit.core import is_ratelimited
from django_ratelimit.exceptions import Ratelimited

GROUP = "subscribers.subscribe"


def _rate(group: str, request) -> str:
    # Read at request time so the setting (and tests overriding it) always applies.
    return settings.SUBSCRIBE_RATE_LIMIT


def limit_subscribe_requests(view):
    """POSTs share one budget per IP across the signup form, the API and new-link requests.

    Over the limit, settings.RATELIMIT_VIEW answers (429; JSON under /api/).
    """

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method == "POST" and is_ratelimited(
            request, group=GROUP, key="ip", rate=_rate, method="POST", increment=True
        ):
            return import_string(settings.RATELIMIT_VIEW)(request, Ratelimited())
        return view(request, *args, **kwargs)

    return wrapped
