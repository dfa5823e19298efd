"""A subscriber writes to us in the browser: the reply becomes a mail for the inbound pipeline.

The message is built as the subscriber's mail client would build it (From the subscriber, To the
reply address of the mail or answer they are answering, In-Reply-To and References) and stored
through replies.interface.store_web_reply: from there on it is processed like any reply (rules,
threading by its reply token, routing to the same named person), so nothing here decides where it
goes. A call-back request is such a message too, plus the number and window on their own row.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, formatdate

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from dialogue.models import CallbackRequest
from dialogue.selectors import ReplyTarget
from replies.interface import InboundMessage, store_web_reply
from rundbrief.mail.addresses import REPLY
from rundbrief.mail.headers import new_message_id
from rundbrief.mail.subjects import reply_subject
from subscribers.models import Subscriber

MAX_WEB_REPLY_CHARS = 20000
WEB_CHANNEL_HEADER = "X-Rundbrief-Channel"


def web_reply_bytes(*, subscriber: Subscriber, target: ReplyTarget, text: str) -> bytes:
    message = EmailMessage()
    message["From"] = formataddr((subscriber.name, subscriber.email))
    message["To"] = REPLY.address(target.reply_token)
    message["Subject"] = reply_subject(target.subject or _("Your message"))
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = new_message_id()
    if target.in_reply_to:
        message["In-Reply-To"] = target.in_reply_to
    references = " ".join(filter(None, [target.references, target.in_reply_to]))
    if references:
        message["References"] = references
    message[WEB_CHANNEL_HEADER] = "web"
    message.set_content(text.replace("\r\n", "\n").strip() + "\n")
    return message.as_bytes()


def reply_in_browser(*, subscriber: Subscriber, target: ReplyTarget, text: str) -> InboundMessage:
    text = text.strip()
    if not text:
        raise ValueError(_("The reply is empty."))
    if len(text) > MAX_WEB_REPLY_CHARS:
        raise ValueError(_("A reply has at most %(n)d characters.") % {"n": MAX_WEB_REPLY_CHARS})
    return store_web_reply(web_reply_bytes(subscriber=subscriber, target=target, text=text))


def ask_for_callback(
    *, subscriber: Subscriber, target: ReplyTarget, phone: str, window: str
) -> CallbackRequest:
    """A short message of the subscriber's asks for the call (without the number, so that the
    thread keeps no copy of it); the number and the window are stored beside it, on their own."""
    with translation.override(subscriber.language):
        text = _("Please call me back. (My number and when to call are shown beside this conversation.)")
    with transaction.atomic():
        inbound = store_web_reply(web_reply_bytes(subscriber=subscriber, target=target, text=text))
        request, _created = CallbackRequest.objects.update_or_create(
            inbound=inbound,
            defaults={
                "subscriber": subscriber,
                "phone": " ".join(phone.split()),
                "window": " ".join(window.split()),
            },
        )
    return request
