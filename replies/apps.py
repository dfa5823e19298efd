from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RepliesConfig(AppConfig):
    name = "replies"
    verbose_name = _("Replies")

    def ready(self) -> None:
        from replies import exports, receivers  # noqa: F401 - receivers connect anymail inbound and erasure

        exports.register()  # conversations in the subscriber's data download
