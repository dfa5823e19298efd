"""What every /api/v1/ operation shares: the key check with its scope, errors, pages.

Errors have one shape everywhere (the same as `POST /api/subscribe`):
`{"error": code, "message": text, "fields": {name: {"code", "message"}}}`.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Schema
from ninja.security import HttpBearer

from api import keys
from api.models import ApiKey
from api.ratelimit import seconds_until_allowed

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class FieldError(Schema):
    code: str
    message: str


class Error(Schema):
    error: str
    message: str
    fields: dict[str, FieldError] | None = None


class ApiError(Exception):
    """Answer with this status and error body (raised by operations, turned into JSON by the API)."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, dict] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, str(message), fields

    def body(self) -> dict:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


class MissingScope(ApiError):
    def __init__(self, scope: str):
        super().__init__(
            403, "missing_scope", _("This API key lacks the scope “%(scope)s”.") % {"scope": scope}
        )


class RateLimited(ApiError):
    def __init__(self, retry_after: int):
        super().__init__(
            429,
            "rate_limited",
            _("Too many requests for this API key; try again in %(seconds)d seconds.")
            % {"seconds": retry_after},
        )
        self.retry_after = retry_after


def field_error(name: str, code: str, message: str) -> dict[str, dict]:
    return {name: {"code": code, "message": str(message)}}


def bad_request(name: str, code: str, message: str) -> ApiError:
    return ApiError(
        400, "invalid", _("The request has errors; see “fields”."), field_error(name, code, message)
    )


def not_found() -> ApiError:
    return ApiError(404, "not_found", _("Not found."))


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def _nul_in(value: Any, path: str) -> str | None:
    """The path of the first string holding a NUL character (PostgreSQL text cannot hold one)."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for name, item in items:
        found = _nul_in(item, f"{path}.{name}" if path else str(name))
        if found is not None:
            return found
    return None


def refuse_nul_characters(request: HttpRequest) -> None:
    """400 naming the field for a NUL character anywhere in the path, the query or the JSON body."""
    found = "path" if "\x00" in request.path else _nul_in(dict(request.GET.lists()), "")
    if found is None and request.body:
        try:
            found = _nul_in(json.loads(request.body), "")
        except (ValueError, UnicodeDecodeError):
            found = None  # not JSON: the operation says so
    if found is not None:
        name = ".".join(part for part in found.split(".") if not part.isdigit())  # topics.0 -> topics
        raise bad_request(name, "nul_character", _("Text must not contain NUL characters."))


class Key(HttpBearer):
    """`Authorization: Bearer rb_...` with the given scopes (all of them); the key lands on
    `request.api_key`."""

    def __init__(self, *scopes: str):
        super().__init__()
        self.scopes = scopes

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = keys.usable_key(token)
        if key is None:
            return None  # 401
        request.api_key = key  # the write record (api.middleware) names it
        refuse_nul_characters(request)
        wait = seconds_until_allowed(key)
        if wait:
            raise RateLimited(wait)
        for scope in self.scopes:
            if scope not in key.scopes:
                raise MissingScope(scope)
        return key


# Answers every authenticated operation can give besides its own.
AUTH_ERRORS = {400: Error, 401: Error, 403: Error, 429: Error}
NOT_FOUND = {404: Error}


def responses(ok: dict, *extra: dict) -> dict:
    merged = {**ok, **AUTH_ERRORS}
    for more in extra:
        merged.update(more)
    return merged


def page(queryset, *, after: int | None, limit: int, out) -> dict:
    """Keyset pages by id: `after` the last id of the previous page, `next_after` for the next."""
    limit = max(1, min(limit, MAX_LIMIT))
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    rows = list(queryset.order_by("pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [out(row) for row in rows], "next_after": rows[-1].pk if more else None}
