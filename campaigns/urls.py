from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("preview/", views.preview, name="preview"),
    path("test-link/<str:token>/", views.test_link, name="test_link"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/progress.json", views.campaign_progress, name="progress"),
    path("<int:pk>/test-send/", views.test_send, name="test_send"),
    path("<int:pk>/launch/", views.launch, name="launch"),
    path("<int:pk>/pause/", views.pause, name="pause"),
    path("<int:pk>/resume/", views.resume, name="resume"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/duplicate/", views.duplicate, name="duplicate"),
]
