from django.urls import path

from rundbrief.mailbox import views

app_name = "mailbox"

urlpatterns = [
    path("", views.mail_list, name="list"),
    path("<int:pk>/", views.mail_detail, name="detail"),
    path("<int:pk>/raw/", views.mail_raw, name="raw"),
    path("<int:pk>/reply/", views.mail_reply, name="reply"),
]
