from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = _("Subscribers")

    def ready(self) -> None:
        # Services queue tasks by name (subscribers.queue): register them in every process,
        # not only in workers (Celery's autodiscovery is lazy there).
        from subscribers import tasks  # noqa: F401
