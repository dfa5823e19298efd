from django.urls import path

from replies import views, views_collaboration, views_reports, views_saved_replies, views_settings

app_name = "replies"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("live/", views.queue_live, name="queue_live"),
    path("search/", views.search, name="search"),
    path("profile/", views.profile, name="profile"),
    path("reports/", views_reports.report, name="reports"),
    path("reports/inbox.csv", views_reports.report_csv, name="report_csv"),
    path("rules/", views_settings.routing_rules, name="routing_rules"),
    path("rules/new/", views_settings.routing_rule_edit, name="routing_rule_new"),
    path("rules/<int:pk>/", views_settings.routing_rule_edit, name="routing_rule_edit"),
    path("rules/<int:pk>/delete/", views_settings.routing_rule_delete, name="routing_rule_delete"),
    path("teams/", views_settings.teams, name="teams"),
    path("teams/<int:pk>/", views_settings.team_edit, name="team_edit"),
    path("subscribers/<int:subscriber_pk>/write/", views.compose, name="compose"),
    path("conversations/<int:pk>/", views.conversation, name="conversation"),
    path("conversations/<int:pk>/live/", views.conversation_live, name="conversation_live"),
    path("conversations/<int:pk>/reply/", views.reply, name="reply"),
    path("conversations/<int:pk>/note/", views.note, name="note"),
    path("conversations/<int:pk>/assign/", views.assign, name="assign"),
    path("conversations/<int:pk>/status/", views.change_status, name="status"),
    path("conversations/<int:pk>/snooze/", views.snooze, name="snooze"),
    path(
        "conversations/<int:pk>/saved-replies/",
        views_saved_replies.saved_reply_picker,
        name="saved_reply_picker",
    ),
    path("saved-replies/", views_saved_replies.saved_reply_list, name="saved_replies"),
    path("saved-replies/<int:pk>/", views_saved_replies.saved_reply_edit, name="saved_reply_edit"),
    path("saved-replies/<int:pk>/delete/", views_saved_replies.saved_reply_delete, name="saved_reply_delete"),
    path("conversations/<int:pk>/tags/", views_collaboration.tags, name="tags"),
    path("conversations/<int:pk>/follow/", views_collaboration.follow, name="follow"),
    path("conversations/<int:pk>/link/", views_collaboration.link, name="link"),
    path("conversations/<int:pk>/merge/", views_collaboration.merge, name="merge"),
    path("conversations/<int:pk>/move/", views_collaboration.move, name="move"),
    path("messages/<int:pk>/original/", views.message_original, name="message_original"),
    path("messages/<int:pk>/resend/", views.resend, name="resend"),
    path("messages/<int:pk>/undo/", views.undo, name="undo"),
    path("attachments/<int:pk>/", views.attachment, name="attachment"),
    path("inbound/", views.inbound_list, name="inbound_list"),
    path("inbound/<int:pk>/", views.inbound_detail, name="inbound_detail"),
    path("inbound/<int:pk>/raw/", views.inbound_raw, name="inbound_raw"),
    path("inbound/<int:pk>/reprocess/", views.reprocess, name="reprocess"),
]
