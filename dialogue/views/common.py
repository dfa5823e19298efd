"""What the signed subscriber pages share: reading the link, the page's privacy headers.

The pages behind a signed link are authorised by the link itself (as in subscribers.views): a
forged cross-site POST would need the secret token, so those views are csrf_exempt.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dialogue import links
from subscribers.views.common import link_problem, render_page


def read_link(request: HttpRequest, purpose: str, token: str) -> links.Link | HttpResponse:
    """The link's ids, or the page that says what is wrong with it."""
    try:
        return links.read_token(purpose, token)
    except links.ExpiredLink:
        return render_page(request, "dialogue/link_expired.html", status=410)
    except links.InvalidLink:
        return link_problem(request, "invalid", status=400)


def private(response: HttpResponse) -> HttpResponse:
    """A page whose address holds a secret: not indexed, not cached, never sent on as a referrer."""
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def gone(request: HttpRequest) -> HttpResponse:
    """The link is genuine, but what it pointed at (the subscriber, the mail, the letter) is gone."""
    return link_problem(request, "gone", status=410)
