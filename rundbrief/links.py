"""Links in mail: the absolute URL of a page a mail links to, reversed in rundbrief/link_urls.py.

Those pages' URL conf is part of the site's (included at its root), so the path is the one the
site serves; reversing in it alone keeps the rest of the site out of the sending workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from django.conf import settings
from django.urls import reverse

LINK_URLCONF = "rundbrief.link_urls"
_TOKEN = "RUNDBRIEFTOKEN"


def link_path(name: str, args: Sequence[object] = ()) -> str:
    """The path of a page mails link to, e.g. link_path("subscribers:unsubscribe", [token])."""
    return reverse(name, args=args, urlconf=LINK_URLCONF)


def link_url(name: str, args: Sequence[object] = ()) -> str:
    """The same page's absolute URL (SITE_URL in front), as a mail must carry it."""
    return settings.SITE_URL + link_path(name, args)


@lru_cache(maxsize=16)
def path_around_token(name: str) -> tuple[str, str]:
    """A page's path before and after its one argument, a signed token, reversed once: senders
    splice each recipient's token in between (signed tokens are URL-safe, so that is exact)."""
    before, after = link_path(name, [_TOKEN]).split(_TOKEN)
    return before, after
