"""The confirmation mail: text and HTML, no advertising, in the subscriber's language."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from subscribers import tokens
from subscribers.models import Subscriber, Topic

# RFC 3834: our own automatic mail says so, so that auto-responders stay quiet.
AUTOMATIC_HEADERS = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}


def send_confirmation_mail(*, subscriber: Subscriber, topics: Sequence[Topic]) -> None:
    slugs = [topic.slug for topic in topics]
    context = {
        "subscriber": subscriber,
        "topics": topics,
        "confirm_url": tokens.confirm_url(subscriber.pk, slugs),
        "expires_days": settings.CONFIRMATION_LINK_MAX_AGE.days,
    }
    with translation.override(subscriber.language):
        subject = render_to_string("emails/subscribers/confirmation_subject.txt", context)
        text = render_to_string("emails/subscribers/confirmation.txt", context)
        html = render_to_string("emails/subscribers/confirmation.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        headers=AUTOMATIC_HEADERS,
    )
    if subscriber.format == Subscriber.Format.HTML:
        message.attach_alternative(html, "text/html")
    message.send()
