from django.urls import path

from audience import views

app_name = "audience"

urlpatterns = [
    path("", views.subscriber_list, name="list"),
    path("count.json", views.count_json, name="count"),
    path("export.csv", views.export_csv, name="export"),
    path("bulk/", views.bulk_action, name="bulk"),
    path("subscribers/<int:pk>/", views.subscriber_detail, name="subscriber"),
    path("topics/", views.topic_list, name="topics"),
    path("topics/new/", views.topic_edit, name="topic_create"),
    path("topics/<int:pk>/", views.topic_detail, name="topic"),
    path("topics/<int:pk>/edit/", views.topic_edit, name="topic_edit"),
    path("topics/<int:pk>/archive/", views.topic_archive, name="topic_archive"),
    path("fields/", views.attribute_list, name="attributes"),
    path("fields/new/", views.attribute_edit, name="attribute_create"),
    path("fields/<int:pk>/", views.attribute_edit, name="attribute_edit"),
    path("fields/<int:pk>/delete/", views.attribute_delete, name="attribute_delete"),
    path("import/", views.import_upload, name="import_upload"),
    path("import/<int:pk>/", views.import_detail, name="import"),
    path("import/<int:pk>/progress.json", views.import_progress, name="import_progress"),
    path("segments/", views.segment_list, name="segments"),
    path("segments/new/", views.segment_edit, name="segment_create"),
    path("segments/<int:pk>/", views.segment_detail, name="segment"),
    path("segments/<int:pk>/edit/", views.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/export.csv", views.segment_export, name="segment_export"),
    path("segments/<int:pk>/delete/", views.segment_delete, name="segment_delete"),
]
