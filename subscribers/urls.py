from django.urls import path

from subscribers import api
from subscribers.views import confirm, data, preferences, signup, suppressions, unsubscribe

app_name = "subscribers"

urlpatterns = [
    path("subscribe/", signup.signup, name="signup"),
    path("subscribe/thanks/", signup.signup_done, name="signup_done"),
    path("confirm/<str:token>/", confirm.confirm, name="confirm"),
    path("confirm/<str:token>/new-link/", confirm.confirm_new_link, name="confirm_new_link"),
    path("preferences/<str:token>/", preferences.preferences, name="preferences"),
    path("preferences/<str:token>/new-link/", preferences.new_preferences_link, name="preferences_new_link"),
    path("preferences/<str:token>/fields/", preferences.fields, name="preferences_fields"),
    path("preferences/<str:token>/language/", preferences.mail_language, name="mail_language"),
    path(
        "preferences/<str:token>/confirmation/", preferences.resend_confirmation, name="resend_confirmation"
    ),
    path("preferences/<str:token>/data.json", preferences.old_json_download, name="preferences_export"),
    path("preferences/<str:token>/export/", data.request_export, name="request_export"),
    path("preferences/<str:token>/erase/", data.request_erasure, name="preferences_erase"),
    path("erase/<str:token>/", data.erase, name="erase"),
    path("export/<str:token>/", data.export, name="export"),
    path("unsubscribe/<str:token>/", unsubscribe.unsubscribe, name="unsubscribe"),
    path(
        "unsubscribe/<str:token>/preferences-link/",
        unsubscribe.preferences_link,
        name="unsubscribe_preferences_link",
    ),
    path("subscribers/suppressions/", suppressions.suppression_list, name="suppressions"),
    path("subscribers/suppressions/<int:pk>/lift/", suppressions.lift, name="lift_suppression"),
    path("api/subscribe", api.subscribe, name="api_subscribe"),
    path("api/consent-text", api.consent_text, name="api_consent_text"),
]
