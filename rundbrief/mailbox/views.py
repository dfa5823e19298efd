"""The local mailbox: every captured outgoing mail, and "reply as the subscriber"."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from rundbrief.csp import allows_mail_frames
from rundbrief.mailbox.models import CapturedMail
from rundbrief.mailbox.reading import html_for_preview, read_mail
from rundbrief.mailbox.replying import ReplyDeliveryError, compose_reply, deliver, draft_reply
from rundbrief.mailbox.selectors import captured_mails, earlier_in_thread

PAGE_SIZE = 50


def local_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Open to anyone in a DEBUG run; otherwise only to admin staff.

    The mailbox holds every mail's links (confirmation, preferences): a server started
    without mail settings and without DEBUG must not show them to the world.
    """

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if settings.DEBUG or request.user.is_staff:
            return view(request, *args, **kwargs)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        raise PermissionDenied

    return guarded


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=gettext_lazy("Your reply"),
        widget=forms.Textarea(attrs={"rows": 14}),
        max_length=100_000,
        strip=False,
    )

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        if not body.strip():
            raise forms.ValidationError(gettext_lazy("Write a reply first."))
        return body


@local_only
def mail_list(request: HttpRequest) -> HttpResponse:
    recipient = request.GET.get("to", "").strip()
    page = Paginator(captured_mails(recipient=recipient), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "mailbox/list.html", {"page": page, "recipient": recipient})


@local_only
@allows_mail_frames(remote_images=True)
def mail_detail(request: HttpRequest, pk: int) -> HttpResponse:
    mail = get_object_or_404(CapturedMail, pk=pk)
    readable = read_mail(bytes(mail.raw))
    context = {
        "mail": mail,
        "readable": readable,
        "preview_html": html_for_preview(readable.html) if readable.html else "",
        "thread": earlier_in_thread(
            in_reply_to=readable.header("In-Reply-To"), references=readable.header("References")
        ),
    }
    return render(request, "mailbox/detail.html", context)


@local_only
def mail_raw(request: HttpRequest, pk: int) -> HttpResponse:
    mail = get_object_or_404(CapturedMail, pk=pk)
    response = HttpResponse(bytes(mail.raw), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="mail-{mail.pk}.eml"'
    return response


@local_only
@require_http_methods(["GET", "POST"])
def mail_reply(request: HttpRequest, pk: int) -> HttpResponse:
    mail = get_object_or_404(CapturedMail, pk=pk)
    draft = draft_reply(mail)
    form = ReplyForm(request.POST or None, initial={"body": draft.body})
    if request.method == "POST" and form.is_valid():
        try:
            deliver(compose_reply(draft, body=form.cleaned_data["body"]))
        except ReplyDeliveryError as exc:
            # The text stays in the form, so nothing typed is lost.
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("Reply from %(sender)s delivered to %(recipient)s through the inbound SMTP receiver.")
                % {"sender": draft.from_address, "recipient": draft.to_address},
            )
            return redirect("mailbox:detail", pk=mail.pk)
    return render(request, "mailbox/reply.html", {"mail": mail, "draft": draft, "form": form})
