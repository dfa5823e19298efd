"""Every mail the subscriber side sends can be answered and names itself in a bounce (issues 9 and 10):
a stored token as Reply-To and in the VERP return path, for the new-link and data-link mails too."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail

from rundbrief.mail.addresses import REPLY, return_path
from subscribers import mails, tokens
from subscribers.models import SystemMail

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("send", "kind"),
    [
        (lambda s: mails.send_preferences_link_mail(subscriber=s), SystemMail.Kind.PREFERENCES_LINK),
        (lambda s: mails.send_data_link_mail(subscriber=s, action=tokens.ERASE), SystemMail.Kind.DATA_LINK),
        (lambda s: mails.send_data_link_mail(subscriber=s, action=tokens.EXPORT), SystemMail.Kind.DATA_LINK),
    ],
)
def test_link_mails_carry_a_stored_reply_token_and_return_path(make_subscriber, send, kind):
    subscriber = make_subscriber("pat@example.org", name="Pat", topic_slugs=("news",))
    send(subscriber)
    sent = mail.outbox[-1]
    stored = SystemMail.objects.get(subscriber=subscriber)
    assert stored.kind == kind
    assert sent.reply_to == [REPLY.address(stored.token)]
    assert sent.from_email == return_path(stored.token)  # the envelope sender: VERP
    assert sent.extra_headers["From"] == settings.DEFAULT_FROM_EMAIL  # the From header stays ours
