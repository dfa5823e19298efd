from django.urls import path

from subscribers import api, views

app_name = "subscribers"

urlpatterns = [
    path("subscribe/", views.signup, name="signup"),
    path("subscribe/thanks/", views.signup_done, name="signup_done"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("confirm/<str:token>/new-link/", views.confirm_new_link, name="confirm_new_link"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path("preferences/<str:token>/data.json", views.preferences_export, name="preferences_export"),
    path("preferences/<str:token>/erase/", views.preferences_erase, name="preferences_erase"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("api/subscribe", api.subscribe, name="api_subscribe"),
    path("api/consent-text", api.consent_text, name="api_consent_text"),
]
