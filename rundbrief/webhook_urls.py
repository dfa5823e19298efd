"""ESP webhooks (anymail): tracking events for campaigns, inbound mail for replies.

The per-ESP URL patterns come from anymail itself; Rundbrief's receivers listen to
anymail's `tracking` and `inbound` signals (campaigns/receivers.py, replies/receivers.py).
"""

from django.urls import include, path

urlpatterns = [path("anymail/", include("anymail.urls"))]
