"""The URL conf of the pages a mail links to: the subscribers' pages, campaigns, the inbox, dialogue.

The site's URL conf (rundbrief/urls.py) includes this one at its root, so every name here
reverses to the same path through either. Mail is built against this one (rundbrief.links):
a worker that sends never imports the API, the admin, the metrics or the webhooks, which the
whole URL conf would (their views and libraries cost ~17 MB in every worker process; issue 17).
"""

from django.urls import include, path

urlpatterns = [
    path("", include("subscribers.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("inbox/", include("replies.urls")),
    path("", include("dialogue.urls")),
]
