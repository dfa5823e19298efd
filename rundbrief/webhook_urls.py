"""ESP webhooks (anymail): tracking events for campaigns, inbound mail for replies.

The per-ESP URL patterns come from anymail itself; Rundbrief's receivers listen to
anymail's `tracking` and `inbound` signals (campaigns/receivers.py, replies/receivers.py).
The ESPs whose signatures anymail accepts again and again (rundbrief/webhooks.py) get the
replay-guarded views, on the same URLs and names, matched before anymail's own.
"""

from django.urls import include, path, re_path

from rundbrief import webhooks

urlpatterns = [
    path(
        "anymail/mailgun/tracking/",
        webhooks.MailgunTrackingWebhookView.as_view(),
        name="mailgun_tracking_webhook",
    ),
    re_path(
        r"^anymail/mailgun/inbound(_mime)?/$",
        webhooks.MailgunInboundWebhookView.as_view(),
        name="mailgun_inbound_webhook",
    ),
    path(
        "anymail/sendgrid/tracking/",
        webhooks.SendGridTrackingWebhookView.as_view(),
        name="sendgrid_tracking_webhook",
    ),
    path("anymail/", include("anymail.urls")),
]
