from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DialogueConfig(AppConfig):
    name = "dialogue"
    verbose_name = _("Dialogue")

    def ready(self) -> None:
        # Connects the erasure receiver (subscribers.signals.subscriber_erasing).
        from dialogue import receivers  # noqa: F401
