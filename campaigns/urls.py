from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("start/", views.campaign_start, name="start"),
    path("images/", views.image_library, name="images"),
    path("images/<path:path>", views.image, name="image"),
    path("new/", views.campaign_create, name="create"),
    path("preview/", views.preview, name="preview"),
    path("test-link/<str:token>/", views.test_link, name="test_link"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/progress.json", views.campaign_progress, name="progress"),
    path("<int:pk>/stats/", views.campaign_stats, name="stats"),
    path("<int:pk>/recipients.csv", views.recipients_csv, name="recipients_csv"),
    path("<int:pk>/test-send/", views.test_send, name="test_send"),
    path("<int:pk>/launch/", views.launch, name="launch"),
    path("<int:pk>/pause/", views.pause, name="pause"),
    path("<int:pk>/resume/", views.resume, name="resume"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/ab-decide/", views.ab_decide, name="ab_decide"),
    path("<int:pk>/duplicate/", views.duplicate, name="duplicate"),
    path("<int:pk>/make-default/<str:language>/", views.make_default, name="make_default"),
    path("<int:pk>/save-as-template/", views.save_template, name="save_template"),
]
