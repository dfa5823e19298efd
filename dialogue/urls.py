from django.urls import path

from dialogue.feeds import TopicFeed
from dialogue.views import archive, conversations, letters, staff

app_name = "dialogue"

urlpatterns = [
    path("archive/", archive.archive_index, name="archive_index"),
    path("archive/<slug:topic>/", archive.archive, name="archive"),
    path("archive/<slug:topic>/feed/", TopicFeed(), name="feed"),
    path("archive/<slug:topic>/<int:pk>/", archive.issue, name="issue"),
    path("web/<str:token>/", archive.web_view, name="web_view"),
    path("dialogue/campaigns/<int:pk>/archive/", staff.campaign_archive, name="campaign_archive"),
    path("dialogue/conversations/<int:pk>/letter/", staff.propose_letter, name="propose_letter"),
    path("letters/<str:token>/", letters.letter, name="letter"),
    path("talk/<str:token>/", conversations.about_mail, name="about_mail"),
    path("conversations/<str:token>/", conversations.conversation, name="conversation"),
    path("conversations/<str:token>/download/", conversations.download, name="conversation_download"),
    path(
        "conversations/<str:token>/attachments/<int:pk>/",
        conversations.attachment,
        name="conversation_attachment",
    ),
    path("dialogue/restricted/", staff.restricted, name="restricted"),
    path("dialogue/campaigns/<int:pk>/report/", staff.campaign_report, name="report"),
    path("dialogue/reply-rates/", staff.reply_rates, name="reply_rates"),
]
