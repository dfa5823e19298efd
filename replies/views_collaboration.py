"""Tags, following, linking an unmatched mail, merging conversations and moving a message.

Every view needs the inbox permissions (views.staff_action) and sees only the conversations
selectors.visible_conversations allows, on both sides of a merge or a move.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from replies.models import Conversation, Message
from replies.services import collaboration
from replies.views import _conversation, _nav_context, staff_action, staff_view
from subscribers.models import Subscriber


def _back(item: Conversation | int) -> HttpResponse:
    return redirect("replies:conversation", pk=item if isinstance(item, int) else item.pk)


@staff_action
def tags(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk)
    names = request.POST.get("tags", "").split(",")
    added, removed = collaboration.set_tags(conversation=item, actor=request.user, names=names)
    if added or removed:
        messages.success(request, _("Tags saved."))
    return _back(item)


@staff_action
def follow(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk)
    if request.POST.get("action") == "unfollow":
        collaboration.unfollow(conversation=item, user=request.user)
        messages.success(request, _("You no longer follow this conversation."))
    else:
        collaboration.follow(conversation=item, user=request.user)
        messages.success(request, _("You follow this conversation: new replies reach you by mail."))
    return _back(item)


@staff_view
def link(request: HttpRequest, pk: int) -> HttpResponse:
    """Find the subscriber an unmatched mail belongs to (by address or name) and link it."""
    item = _conversation(request, pk)
    if request.method == "POST":
        if not request.user.has_perm("replies.change_conversation"):
            raise Http404
        subscriber = get_object_or_404(Subscriber, pk=request.POST.get("subscriber", "0") or 0)
        collaboration.link_subscriber(conversation=item, actor=request.user, subscriber=subscriber)
        messages.success(request, _("Linked to %(email)s.") % {"email": subscriber.email})
        return _back(item)
    query = request.GET.get("q", item.contact_address)
    return render(
        request,
        "replies/link.html",
        {
            **_nav_context(request),
            "conversation": item,
            "query": query,
            "candidates": collaboration.subscriber_candidates(query),
        },
    )


@staff_action
def merge(request: HttpRequest, pk: int) -> HttpResponse:
    source = _conversation(request, pk)
    target = _conversation(request, int(request.POST.get("target", "0") or 0))
    try:
        collaboration.merge(source=source, target=target, actor=request.user)
    except collaboration.NotPossible as exc:
        messages.error(request, str(exc))
        return _back(source)
    messages.success(request, _("Merged into this conversation."))
    return _back(target)


@staff_action
def move(request: HttpRequest, pk: int) -> HttpResponse:
    source = _conversation(request, pk)
    message = get_object_or_404(Message, conversation=source, pk=int(request.POST.get("message", "0") or 0))
    target = _conversation(request, int(request.POST.get("target", "0") or 0))
    try:
        collaboration.move_message(message=message, target=target, actor=request.user)
    except collaboration.NotPossible as exc:
        messages.error(request, str(exc))
        return _back(message.conversation_id)
    messages.success(request, _("Message moved."))
    return redirect(f"{_back(target).url}#m{message.pk}")
