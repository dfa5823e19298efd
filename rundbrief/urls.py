from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from rundbrief import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("subscribers.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("inbox/", include("replies.urls")),
    path("webhooks/", include("rundbrief.webhook_urls")),
]
if settings.MAILBOX_ENABLED:
    urlpatterns.append(path("dev/mailbox/", include("rundbrief.mailbox.urls")))
