"""The Atom feed of a public topic's archive (Django's syndication framework)."""

from __future__ import annotations

from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import linebreaks
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from dialogue import selectors
from dialogue.webview import public_issue, public_subject
from subscribers.models import Topic

FEED_ENTRIES = 30


class TopicFeed(Feed):
    feed_type = Atom1Feed

    def get_object(self, request: HttpRequest, topic: str) -> Topic:
        found = selectors.public_topic(topic)
        if found is None:
            raise Http404
        self.language = translation.get_language()
        return found

    def title(self, obj: Topic) -> str:
        return _("%(topic)s: the archive") % {"topic": obj.name}

    def subtitle(self, obj: Topic) -> str:
        return obj.description

    def link(self, obj: Topic) -> str:
        return reverse("dialogue:archive", args=[obj.slug])

    def items(self, obj: Topic):
        self.topic = obj
        return selectors.archive_issues(obj)[:FEED_ENTRIES]

    def item_title(self, item: Campaign) -> str:
        return public_subject(item, language=self.language)

    def item_description(self, item: Campaign) -> str:
        return linebreaks(public_issue(item, language=self.language).text, autoescape=True)

    def item_link(self, item: Campaign) -> str:
        return reverse("dialogue:issue", args=[self.topic.slug, item.pk])

    def item_pubdate(self, item: Campaign):
        return item.finished_at or item.started_at

    def item_updateddate(self, item: Campaign):
        return item.finished_at or item.started_at
