"""The public archive (per topic, with an Atom feed) and the subscriber's own web view of a mail."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_GET

from dialogue import links, selectors
from dialogue.views.common import gone, private, read_link
from dialogue.webview import own_mail, public_issue
from rundbrief.csp import allows_mail_frames
from subscribers.views.common import render_page


@require_GET
def archive_index(request: HttpRequest) -> HttpResponse:
    return render(request, "dialogue/archive_index.html", {"topics": selectors.public_topics()})


@require_GET
def archive(request: HttpRequest, topic: str) -> HttpResponse:
    found = selectors.public_topic(topic)
    if found is None:
        raise Http404
    return render(
        request, "dialogue/archive.html", {"topic": found, "issues": selectors.archive_issues(found)}
    )


@require_GET
@allows_mail_frames(remote_images=True)  # the issue is shown as its mail, in a sandboxed frame
def issue(request: HttpRequest, topic: str, pk: int) -> HttpResponse:
    found = selectors.public_topic(topic)
    campaign = selectors.archive_issue(found, pk) if found else None
    if campaign is None:
        raise Http404
    shown = public_issue(campaign, language=translation.get_language())
    return render(request, "dialogue/issue.html", {"topic": found, "campaign": campaign, "issue": shown})


@require_GET
@allows_mail_frames(remote_images=True)
def web_view(request: HttpRequest, token: str) -> HttpResponse:
    """The recipient's own mail, read-only, with its working links."""
    link = read_link(request, links.WEB_VIEW, token)
    if isinstance(link, HttpResponse):
        return private(link)
    delivery = selectors.delivery_for(subscriber_id=link.subscriber_id, campaign_id=link.object_id)
    if delivery is None or delivery.subscriber is None:
        return private(gone(request))
    mail = own_mail(delivery)
    context = {"campaign": delivery.campaign, "mail": mail}
    return private(render_page(request, "dialogue/web_view.html", context, subscriber=delivery.subscriber))
