"""Writes on the subscriber side: every change to a subscriber goes through here.

Each function is keyword-only and records what it did in the append-only consent proof
(ConsentEvent), so that the history a subscriber sees is complete. One module per job:

- consent: the proof itself (record_event)
- optin: double opt-in: requests, confirmation mails and their throttle, the click
- preferences: the preference centre's changes
- leaving: unsubscribe, suppression, erasure, purge of never-confirmed addresses
- links: links mailed on request (a new preference link, erasure and data download)
- bounces: bounce and complaint records, the soft-bounce score, lifting a suppression
"""

from subscribers.services.bounces import (
    BounceFacts,
    BounceResult,
    CannotLift,
    bounce_score,
    lift_suppression,
    record_bounce,
    record_only,
)
from subscribers.services.consent import record_event
from subscribers.services.leaving import erase, purge_expired_pending, suppress_address, unsubscribe
from subscribers.services.links import (
    LinkRequest,
    deliver_data_link,
    deliver_preferences_link,
    request_data_link,
    request_preferences_link,
)
from subscribers.services.optin import (
    Confirmation,
    Resend,
    confirm,
    deliver_confirmation,
    handle_subscription_request,
    lock_mailbox,
    request_subscription,
    resend_confirmation,
    send_due_confirmations,
    submit_subscription_request,
)
from subscribers.services.preferences import (
    PreferencesSaved,
    set_mail_language,
    update_attributes,
    update_preferences,
)

__all__ = [
    "BounceFacts",
    "BounceResult",
    "CannotLift",
    "bounce_score",
    "lift_suppression",
    "record_bounce",
    "record_only",
    "Confirmation",
    "LinkRequest",
    "PreferencesSaved",
    "Resend",
    "confirm",
    "deliver_confirmation",
    "deliver_data_link",
    "deliver_preferences_link",
    "handle_subscription_request",
    "lock_mailbox",
    "erase",
    "purge_expired_pending",
    "record_event",
    "request_data_link",
    "request_preferences_link",
    "request_subscription",
    "resend_confirmation",
    "send_due_confirmations",
    "set_mail_language",
    "submit_subscription_request",
    "suppress_address",
    "unsubscribe",
    "update_attributes",
    "update_preferences",
]
