from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AudienceConfig(AppConfig):
    name = "audience"
    verbose_name = _("Audience desk")

    def ready(self) -> None:
        # The import is queued by task name (rundbrief.effects): register it in every process.
        from audience import tasks  # noqa: F401
