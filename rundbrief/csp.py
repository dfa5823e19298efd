"""Content Security Policy: what the pages that show a mail in a frame may add to the policy.

The site's policy (settings: CONTENT_SECURITY_POLICY) allows no inline style or script: our
pages load theirs from /static/. A mail is different: its HTML is all inline styles and
``<style>`` elements (MJML's responsive CSS), and a sandboxed ``<iframe srcdoc>`` runs under the
policy of the page around it. So the pages with such a frame (campaign editor, local mailbox)
allow inline *styles*, and, where the mail may show remote images, ``https:`` images. Scripts
stay 'self' only, and the frames are sandboxed without scripts. (A reply's original in the
staff inbox needs neither: it is sanitised, styles and remote images removed, so that page
keeps the strict policy.)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def allows_mail_frames(*, remote_images: bool) -> Callable:
    update = {"style-src": ["'unsafe-inline'"], "img-src": ["https:"] if remote_images else []}

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            response = view(request, *args, **kwargs)
            # django-csp reads these (csp.decorators.csp_update does the same), for the mode in use.
            enforced = bool(getattr(settings, "CONTENT_SECURITY_POLICY", None))
            setattr(response, "_csp_update" if enforced else "_csp_update_ro", update)
            return response

        return wrapped

    return decorator
