"""ESP webhooks (anymail): tracking events for campaigns, inbound mail for replies.

The per-ESP URL patterns come from anymail itself; Rundbrief's receivers listen to
anymail's `tracking` and `inbound` signals (campaigns/receivers.py, replies/receivers.py).
The ESPs whose signatures anymail accepts again and again (rundbrief/webhooks.py) get the
replay-guarded views, and every inbound view stores what anymail's parser gives up on
(replies/inbound_webhooks.py); both on anymail's URLs and names, matched before anymail's own.
"""

from django.urls import include, path, re_path

from replies.inbound_webhooks import INBOUND_ROUTES
from rundbrief import webhooks

urlpatterns = [
    path(
        "anymail/mailgun/tracking/",
        webhooks.MailgunTrackingWebhookView.as_view(),
        name="mailgun_tracking_webhook",
    ),
    path(
        "anymail/sendgrid/tracking/",
        webhooks.SendGridTrackingWebhookView.as_view(),
        name="sendgrid_tracking_webhook",
    ),
    *(
        (
            re_path(f"^anymail/{route[1:]}", view.as_view(), name=name)
            if route.startswith("^")
            else path(f"anymail/{route}", view.as_view(), name=name)
        )
        for route, view, name in INBOUND_ROUTES
    ),
    path("anymail/", include("anymail.urls")),
]
