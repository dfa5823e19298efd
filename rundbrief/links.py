"""Links in mail: the absolute URL of a page a mail links to, reversed in rundbrief/link_urls.py.

Those pages' URL conf is part of the site's (included at its root), so the path is the one the
site serves; reversing in it alone keeps the rest of the site out of the sending workers.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.urls import reverse

URLCONF = "rundbrief.link_urls"


def link_path(name: str, args: Sequence[object] = ()) -> str:
    """The path of a page mails link to, e.g. link_path("subscribers:unsubscribe", [token])."""
    return reverse(name, args=args, urlconf=URLCONF)


def link_url(name: str, args: Sequence[object] = ()) -> str:
    """The same page's absolute URL (SITE_URL in front), as a mail must carry it."""
    return settings.SITE_URL + link_path(name, args)
