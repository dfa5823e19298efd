"""The dialogue app's mails to a subscriber, text and HTML, in their language, no advertising."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from subscribers.mails import AUTOMATIC_HEADERS
from subscribers.models import Subscriber


def send_to_subscriber(*, subscriber: Subscriber, template: str, context: dict) -> None:
    """Render emails/dialogue/<template>{_subject.txt,.txt,.html} and send them to the subscriber."""
    context = {"subscriber": subscriber, **context}
    with translation.override(subscriber.language):
        subject = render_to_string(f"emails/dialogue/{template}_subject.txt", context)
        text = render_to_string(f"emails/dialogue/{template}.txt", context)
        html = render_to_string(f"emails/dialogue/{template}.html", context)
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
