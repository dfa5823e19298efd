"""Every write made with an API key is recorded with the key (api.models.ApiWrite)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from api.keys import record_write
from rundbrief.http import client_ip

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def record_api_writes(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        key = getattr(request, "api_key", None)
        if key is not None and request.method not in SAFE_METHODS:
            record_write(
                key=key,
                method=request.method,
                path=request.get_full_path(),
                status_code=response.status_code,
                ip=client_ip(request),
            )
        return response

    return middleware
