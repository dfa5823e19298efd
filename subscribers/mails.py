"""The subscriber side's own mails, text and HTML, in the subscriber's language, no advertising:
the confirmation mail, a new preference link, and the links that confirm erasure or download.

Every one of them can be answered: it carries a stored token (SystemMail) as its Reply-To and VERP
return path, so an answer lands in the queue of the owner of the topics asked for (the confirmation)
or of the subscriber's topics (the others)."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from rundbrief.mail.addresses import REPLY, new_token, set_return_path
from subscribers import tokens
from subscribers.models import Subscriber, SystemMail, Topic

# RFC 3834: our own automatic mail says so, so that auto-responders stay quiet.
AUTOMATIC_HEADERS = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}


def system_mail_token(*, subscriber: Subscriber, kind: str, topic_ids: Sequence[int] = ()) -> str:
    """A stored token for one system mail: its Reply-To and VERP return path (SystemMail)."""
    token = new_token()
    SystemMail.objects.create(token=token, subscriber=subscriber, kind=kind, topic_ids=sorted(set(topic_ids)))
    return token


def answerable(message: EmailMessage, token: str) -> EmailMessage:
    """Reply-To our reply address, envelope sender our VERP return path: the mail can be answered."""
    message.reply_to = [REPLY.address(token)]
    set_return_path(message, token)
    return message


def _send(*, subscriber: Subscriber, template: str, context: dict, token: str = "", kind: str = "") -> None:
    send_templated(
        subscriber=subscriber,
        folder="subscribers",
        template=template,
        context=context,
        token=token,
        kind=kind,
    )


def send_templated(
    *, subscriber: Subscriber, folder: str, template: str, context: dict, token: str = "", kind: str = ""
) -> None:
    """Render emails/<folder>/<template>{_subject.txt,.txt,.html} in the subscriber's language and send
    them (HTML only to those who want it). Every such mail can be answered and names itself in a
    bounce: its own token (given, or stored now as a SystemMail of ``kind``), see answerable."""
    if not token:
        token = system_mail_token(subscriber=subscriber, kind=kind)
    context = {"subscriber": subscriber, **context}
    with translation.override(subscriber.language):
        subject = render_to_string(f"emails/{folder}/{template}_subject.txt", context)
        text = render_to_string(f"emails/{folder}/{template}.txt", context)
        html = render_to_string(f"emails/{folder}/{template}.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        headers=AUTOMATIC_HEADERS,
    )
    if subscriber.format == Subscriber.Format.HTML:
        message.attach_alternative(html, "text/html")
    answerable(message, token)
    message.send()


def send_confirmation_mail(
    *, subscriber: Subscriber, topics: Sequence[Topic], request_mark: int | None = None
) -> None:
    slugs = [topic.slug for topic in topics]
    _send(
        subscriber=subscriber,
        template="confirmation",
        context={
            "topics": topics,
            "confirm_url": tokens.confirm_url(subscriber.pk, slugs, request_mark=request_mark),
            "expires_days": settings.CONFIRMATION_LINK_MAX_AGE.days,
        },
        token=system_mail_token(
            subscriber=subscriber, kind=SystemMail.Kind.CONFIRMATION, topic_ids=[t.pk for t in topics]
        ),
    )


def send_preferences_link_mail(*, subscriber: Subscriber) -> None:
    _send(
        subscriber=subscriber,
        template="preferences_link",
        context={
            "url": tokens.preferences_url(subscriber.pk),
            "expires_days": settings.PREFERENCES_LINK_MAX_AGE.days,
        },
        kind=SystemMail.Kind.PREFERENCES_LINK,
    )


def send_data_link_mail(*, subscriber: Subscriber, action: str) -> None:
    url = tokens.erase_url(subscriber.pk) if action == tokens.ERASE else tokens.export_url(subscriber.pk)
    _send(
        subscriber=subscriber,
        template=f"{action}_link",
        context={"url": url, "expires_minutes": int(settings.DATA_LINK_MAX_AGE.total_seconds() // 60)},
        kind=SystemMail.Kind.DATA_LINK,
    )
