from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DialogueConfig(AppConfig):
    name = "dialogue"
    verbose_name = _("Dialogue")

    def ready(self) -> None:
        # Imported once the app registry is ready (they import models), not at module level.
        from dialogue import (
            exports,  # registered below
            receivers,  # noqa: F401 - connects the erasure receiver (subscribers.signals)
            tasks,  # noqa: F401 - registers the tasks rundbrief.effects enqueues by name
        )

        exports.register()  # reader letters and call-back requests in the subscriber's data download
