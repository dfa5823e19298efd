"""Continue in the browser: a signed page per conversation (or per campaign mail, before the first
reply) with the thread, a reply box, and "ask for a call back". Both forms enter the inbound
pipeline (dialogue.services.conversations), so a web reply is threaded and routed like a mail."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from dialogue import links, selectors
from dialogue.forms import CallbackForm, WebReplyForm
from dialogue.models import ConversationWish
from dialogue.services import conversations as conversation_services
from dialogue.services import wishes as wish_services
from dialogue.views.common import gone, private, read_link
from subscribers.views.common import render_page


@csrf_exempt  # authorised by the signed link (dialogue.views.common)
@require_http_methods(["GET", "POST"])
def about_mail(request: HttpRequest, token: str) -> HttpResponse:
    """From a campaign mail's footer: write to us about it, or ask for a call back.

    The link is in every copy of the mail, so a forwarded newsletter carries it: this page shows no
    thread and manages nothing. What is written here threads into the conversation about the mail
    (by its reply token), and our answer brings the conversation's own link, with the thread.
    """
    link = read_link(request, links.MAIL, token)
    if isinstance(link, HttpResponse):
        return private(link)
    delivery = selectors.delivery_for(subscriber_id=link.subscriber_id, campaign_id=link.object_id)
    if delivery is None or delivery.subscriber is None:
        return private(gone(request))
    conversation = selectors.conversation_about(delivery)
    target = selectors.target_in_conversation(conversation) if conversation else None
    return _page(request, delivery.subscriber, None, target or selectors.target_of_delivery(delivery))


@csrf_exempt  # authorised by the signed link
@require_http_methods(["GET", "POST"])
def conversation(request: HttpRequest, token: str) -> HttpResponse:
    """From a staff answer: that conversation."""
    link = read_link(request, links.CONVERSATION, token)
    if isinstance(link, HttpResponse):
        return private(link)
    found = selectors.conversation_of(subscriber_id=link.subscriber_id, conversation_id=link.object_id)
    if found is None or found.subscriber is None:
        return private(gone(request))
    download_url = reverse("dialogue:conversation_download", args=[token])
    return _page(
        request, found.subscriber, found, selectors.target_in_conversation(found), download_url=download_url
    )


def _page(request, subscriber, conversation, target, *, download_url: str = "") -> HttpResponse:
    reply_form, callback_form = WebReplyForm(), CallbackForm()
    wish = selectors.wish_of(conversation) if conversation else None
    if wish is not None and wish.deleted_by_subscriber_at:
        target = None  # deleted: nothing to show or to answer here any more
    action = request.POST.get("action") if request.method == "POST" else None
    if action in ("readers", "delete") and conversation is not None and target is not None:
        if action == "readers":
            try:
                wish_services.set_readers(conversation=conversation, readers=request.POST.get("readers", ""))
            except wish_services.WishError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("Saved: who may read this conversation."))
        elif request.POST.get("confirm") == "yes":
            wish_services.delete_by_subscriber(conversation=conversation)
            messages.success(request, _("The conversation has been deleted."))
        else:
            messages.error(request, _("Tick the box to confirm the deletion."))
        return private(redirect(request.path))
    if request.method == "POST" and target is not None:
        if action == "reply":
            reply_form = WebReplyForm(request.POST)
            if reply_form.is_valid():
                conversation_services.reply_in_browser(
                    subscriber=subscriber, target=target, text=reply_form.cleaned_data["text"]
                )
                messages.success(request, _("Thank you: your reply has been received."))
                return private(redirect(request.path))
        elif action == "callback":
            callback_form = CallbackForm(request.POST)
            if callback_form.is_valid():
                conversation_services.ask_for_callback(
                    subscriber=subscriber,
                    target=target,
                    phone=callback_form.cleaned_data["phone"],
                    window=callback_form.cleaned_data["window"],
                )
                messages.success(request, _("Thank you: we will call you back."))
                return private(redirect(request.path))
    retention = settings.CALLBACK_RETENTION_DAYS
    closed_at = None
    if conversation is not None and conversation.status == "closed":
        closed = conversation.events.filter(kind="closed").order_by("-created_at").first()
        closed_at = closed.created_at if closed else None
    context = {
        "conversation": conversation,
        "wish": wish,
        "readers_choices": ConversationWish.Readers.choices,
        "download_url": download_url if conversation and target else "",
        "attachments_url": download_url.removesuffix("download/") + "attachments/" if download_url else "",
        "thread": selectors.thread(conversation) if conversation else [],
        "subject": target.subject if target else (conversation.subject if conversation else ""),
        "reply_form": reply_form,
        "callback_form": callback_form,
        "can_write": target is not None,
        "about_mail": conversation is None,
        "callbacks": selectors.callbacks_of_subscriber(
            subscriber.pk, conversation.pk if conversation else None
        ),
        "retention_days": retention,
        "callbacks_deleted_on": closed_at + timedelta(days=retention) if closed_at else None,
    }
    response = render_page(request, "dialogue/conversation.html", context, subscriber=subscriber)
    if request.method == "POST":
        response.status_code = 400
    return private(response)


@require_http_methods(["GET"])
def download(request: HttpRequest, token: str) -> HttpResponse:
    """One conversation as a text file: every message with its time, sender and attachments' names."""
    link = read_link(request, links.CONVERSATION, token)
    if isinstance(link, HttpResponse):
        return private(link)
    found = selectors.conversation_of(subscriber_id=link.subscriber_id, conversation_id=link.object_id)
    if found is None or found.subscriber is None:
        return private(gone(request))
    text = render_to_string(
        "dialogue/conversation_download.txt", {"conversation": found, "thread": selectors.thread(found)}
    )
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="conversation-{found.pk}.txt"'
    return private(response)


@require_http_methods(["GET"])
def attachment(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    """An attachment of the conversation, for the subscriber (their own, or one of our answers')."""
    link = read_link(request, links.CONVERSATION, token)
    if isinstance(link, HttpResponse):
        return private(link)
    found = selectors.conversation_of(subscriber_id=link.subscriber_id, conversation_id=link.object_id)
    item = selectors.attachment_in(found, pk) if found is not None else None
    if item is None:
        return private(gone(request))
    response = FileResponse(item.file.open("rb"), as_attachment=True, filename=item.filename)
    return private(response)
