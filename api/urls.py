from django.urls import path

from api import views

app_name = "api"

# The REST API itself is mounted at the top level (rundbrief/urls.py): django-ninja reverses its
# own namespace, "api-v1", without a parent one.
urlpatterns = [
    path("integrations/", views.overview, name="overview"),
    path("integrations/keys/new/", views.key_create, name="key_create"),
    path("integrations/keys/<int:pk>/", views.key_detail, name="key_detail"),
    path("integrations/keys/<int:pk>/revoke/", views.key_revoke, name="key_revoke"),
    path("integrations/webhooks/new/", views.endpoint_create, name="endpoint_create"),
    path("integrations/webhooks/<int:pk>/", views.endpoint_detail, name="endpoint_detail"),
    path("integrations/webhooks/<int:pk>/test/", views.endpoint_test, name="endpoint_test"),
    path("integrations/webhooks/<int:pk>/toggle/", views.endpoint_toggle, name="endpoint_toggle"),
    path("integrations/webhooks/<int:pk>/secret/", views.endpoint_rotate, name="endpoint_rotate"),
    path("integrations/webhooks/<int:pk>/delete/", views.endpoint_delete, name="endpoint_delete"),
]
