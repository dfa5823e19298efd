from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RepliesConfig(AppConfig):
    name = "replies"
    verbose_name = _("Replies")

    def ready(self) -> None:
        # Imported once the app registry is ready (they import models), not at module level.
        from replies import (
            exports,  # registered below
            receivers,  # noqa: F401 - connects the anymail inbound and erasure receivers
            tasks,  # noqa: F401 - registers the tasks rundbrief.effects enqueues by name
        )

        exports.register()  # conversations in the subscriber's data download
