from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from anymail.signals import tracking

        from campaigns import exports
        from campaigns.receivers import on_tracking

        tracking.connect(on_tracking, dispatch_uid="campaigns.tracking")
        exports.register()  # deliveries in the subscriber's data download
