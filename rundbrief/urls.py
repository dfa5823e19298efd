from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from api.v1.api import api as v1_api
from rundbrief import errors, health, views
from rundbrief.accounts import views as account_views

# Error pages in the site's look (rundbrief/errors.py).
handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/two-factor/", include("rundbrief.accounts.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    # The subscribers' pages, campaigns/, inbox/ and dialogue: the pages mails link to.
    path("", include("rundbrief.link_urls")),
    path("audience/", include("audience.urls")),
    path("webhooks/", include("rundbrief.webhook_urls")),
    path("api/v1/", v1_api.urls),
    path("", include("api.urls")),
]
if settings.MAILBOX_ENABLED:
    urlpatterns.append(path("dev/mailbox/", include("rundbrief.mailbox.urls")))
if settings.DEBUG:
    # Django shows its technical 404/500 pages in DEBUG; here are the ones visitors get.
    urlpatterns.append(path("dev/errors/<int:status>/", errors.preview, name="error_preview"))
