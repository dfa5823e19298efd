"""The versioned REST API: `/api/v1/`, its OpenAPI 3 document and interactive docs (django-ninja).

The docs page is Swagger UI from django-ninja's own static files (the project serves them;
no CDN, within the strict CSP). Validation errors are answered 400 in the project's error
shape, naming each bad field by its path (e.g. `prior_consent.date`).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from api.v1 import audience, campaigns, inbox, subscribers, suppressions
from api.v1.common import ApiError, RateLimited
from api.v1.docs import ProjectSwagger

DESCRIPTION = """
Every operation needs an API key (made by a manager under *Integrations → API keys*), sent as
`Authorization: Bearer rb_...`, with the scope the operation names. Errors have one shape:
`{"error": code, "message": text, "fields": {field: {"code", "message"}}}`: 400 bad input
(with the fields), 401 no or unusable key, 403 scope missing, 404, 409 not in this state,
429 over the key's rate limit (`Retry-After`). Lists are pages by id: pass `next_after` as
`after` for the next page. Every write is recorded with the key that made it.
"""

api = NinjaAPI(
    title="Rundbrief API",
    version="1.0.0",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
    docs=ProjectSwagger(),
)
api.add_router("/", subscribers.router)
api.add_router("/", campaigns.router)
api.add_router("/", inbox.router)
api.add_router("/", suppressions.router)
api.add_router("/", audience.router)


@api.exception_handler(ApiError)
def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = api.create_response(request, exc.body(), status=exc.status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = api.create_response(
        request,
        {"error": "unauthenticated", "message": _("Send a valid API key: “Authorization: Bearer rb_…”.")},
        status=401,
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """django-ninja's own refusals (e.g. a body that is not JSON), in the project's error shape."""
    if exc.status_code == 400:
        body = {"error": "malformed_json", "message": _("The request body is not valid JSON.")}
    else:
        body = {"error": "http_error", "message": str(exc)}
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"error": "not_found", "message": _("Not found.")}, status=404)


def _field_name(location: tuple) -> str:
    parts = [str(part) for part in location[1:] if part not in ("payload",)]
    return ".".join(parts) or str(location[0])


@api.exception_handler(NinjaValidationError)
def invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields: dict[str, dict] = {}
    for error in exc.errors:
        name = _field_name(tuple(error.get("loc", ("body",))))
        fields.setdefault(name, {"code": error.get("type", "invalid"), "message": error.get("msg", "")})
    return api.create_response(
        request,
        {"error": "invalid", "message": _("The request has errors; see “fields”."), "fields": fields},
        status=400,
    )
