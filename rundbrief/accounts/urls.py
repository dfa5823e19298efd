from django.urls import path

from rundbrief.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.security, name="security"),
    path("code/", views.verify, name="verify"),
    path("set-up/", views.setup, name="setup"),
    path("recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("turn-off/", views.disable, name="disable"),
]
