"""The dialogue app's mails to a subscriber, text and HTML, in their language, no advertising."""

from __future__ import annotations

from subscribers.mails import send_templated
from subscribers.models import Subscriber, SystemMail


def send_to_subscriber(*, subscriber: Subscriber, template: str, context: dict) -> None:
    """Render emails/dialogue/<template>{_subject.txt,.txt,.html} and send them to the subscriber."""
    send_templated(
        subscriber=subscriber,
        folder="dialogue",
        template=template,
        context=context,
        kind=SystemMail.Kind.DIALOGUE,
    )
