from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("API and webhooks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the webhook tasks in every process, so rundbrief.effects finds them by name.
        from api import tasks  # noqa: F401
