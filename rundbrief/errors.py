"""Error pages in the site's look (400, 403, 404, 500 and the CSRF failure), in the visitor's language.

Django's own handlers render 400 and 500 without the request, so the page could not show the
navigation, the language switch or who is logged in; these render with it. A 500 page must never
fail itself: if rendering with the request raises (the database is down, say), a page without
any context is shown instead. `preview` shows each page in a DEBUG run (`/dev/errors/<status>/`),
where Django answers 404 and 500 with its technical pages.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)

PREVIEW_STATUSES = (400, 403, 404, 500)


def _error_page(request: HttpRequest, status: int, context: dict | None = None) -> HttpResponse:
    try:
        return render(request, f"{status}.html", {"status_code": status, **(context or {})}, status=status)
    except Exception:  # noqa: BLE001 - an error page must always answer, even without a database
        logger.exception("Rendering the %s page with the request failed; showing the plain one", status)
        return HttpResponse(loader.render_to_string("errors/plain.html", {"status": status}), status=status)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, 400)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, 403)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, 404)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    return _error_page(request, 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without a valid CSRF token (expired page, blocked cookies): 403 with a way out."""
    return _error_page(request, 403, {"csrf_failure": True})


HANDLERS = {400: bad_request, 403: permission_denied, 404: page_not_found, 500: server_error}


def preview(request: HttpRequest, status: int) -> HttpResponse:
    """DEBUG only (see urls.py): the error page for status, as a visitor outside DEBUG sees it."""
    if status == 500:
        return server_error(request)
    if status not in HANDLERS:
        raise Http404
    return HANDLERS[status](request, None)
