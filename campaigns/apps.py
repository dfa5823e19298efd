from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from anymail.signals import tracking

        # Imported once the app registry is ready (they import models), not at module level.
        from campaigns import (
            exports,  # registered below: the same reason
            tasks,  # noqa: F401 - registers the tasks rundbrief.effects enqueues by name
        )
        from campaigns.receivers import on_subscriber_erasing, on_tracking  # connected below: the same reason
        from subscribers.signals import subscriber_erasing  # connected below: the same reason

        tracking.connect(on_tracking, dispatch_uid="campaigns.tracking")
        subscriber_erasing.connect(on_subscriber_erasing, dispatch_uid="campaigns.erase_ignored_events")
        exports.register()  # deliveries in the subscriber's data download
