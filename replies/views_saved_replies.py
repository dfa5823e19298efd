"""Saved replies in the staff inbox: list, search, write, change, delete; and the composer's picker.

Staff see their own, their teams' and the shared saved replies; they write personal ones and
their teams' ones; shared ones are written by managers. Marketers have no access (403).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from replies import saved_replies, selectors
from replies.forms import SavedReplyForm
from replies.models import SavedReply, Team
from replies.views import staff_action, staff_view


def _form(request: HttpRequest, instance: SavedReply | None = None) -> SavedReplyForm:
    form = SavedReplyForm(request.POST or None, instance=instance)
    if not selectors.can_see_all(request.user):
        form.fields["team"].queryset = Team.objects.filter(members__user=request.user)
        form.fields["scope"].choices = [
            choice for choice in form.fields["scope"].choices if choice[0] != SavedReply.Scope.SHARED
        ]
    return form


def _save(request: HttpRequest, form: SavedReplyForm, saved: SavedReply | None) -> SavedReply | None:
    if not form.is_valid():
        return None
    data = form.cleaned_data
    if not saved_replies.may_use_scope(request.user, data["scope"], data.get("team")):
        form.add_error("scope", _("You cannot save a reply for them."))
        return None
    try:
        return saved_replies.save(
            author=request.user,
            title=data["title"],
            body=data["body"],
            scope=data["scope"],
            team=data.get("team"),
            saved=saved,
        )
    except (ValueError, ValidationError) as exc:
        form.add_error(None, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        return None


@staff_view
def saved_reply_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    form = _form(request)
    if request.method == "POST":
        if not request.user.has_perm("replies.change_conversation"):
            raise PermissionDenied
        if _save(request, form, None):
            messages.success(request, _("Saved reply saved."))
            return redirect("replies:saved_replies")
    items = list(saved_replies.usable(request.user, query))
    return render(
        request,
        "replies/saved_replies.html",
        {
            "items": [(item, saved_replies.may_edit(request.user, item)) for item in items],
            "query": query,
            "form": form,
            "variables": saved_replies.VARIABLES,
        },
        status=400 if form.errors else 200,
    )


@staff_view
def saved_reply_edit(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(saved_replies.usable(request.user), pk=pk)
    if not saved_replies.may_edit(request.user, saved):
        raise PermissionDenied
    form = _form(request, saved)
    if request.method == "POST" and _save(request, form, saved):
        messages.success(request, _("Saved reply saved."))
        return redirect("replies:saved_replies")
    return render(
        request,
        "replies/saved_reply_edit.html",
        {"form": form, "saved": saved, "variables": saved_replies.VARIABLES},
        status=400 if form.errors else 200,
    )


@staff_action
def saved_reply_delete(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(saved_replies.usable(request.user), pk=pk)
    if not saved_replies.may_edit(request.user, saved):
        raise PermissionDenied
    saved.delete()
    messages.success(request, _("Saved reply deleted."))
    return redirect("replies:saved_replies")


@staff_view
def saved_reply_picker(request: HttpRequest, pk: int) -> JsonResponse:
    """The composer's search (static/js/inbox.js): usable saved replies, filled in for this conversation."""
    conversation = get_object_or_404(selectors.visible_conversations(request.user), pk=pk)
    items = saved_replies.usable(request.user, request.GET.get("q", ""))[:10]
    return JsonResponse(
        {
            "results": [
                {
                    "id": item.pk,
                    "title": item.title,
                    "scope": item.get_scope_display(),
                    "text": saved_replies.render(item, conversation=conversation, staff=request.user),
                }
                for item in items
            ]
        }
    )
