from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from api import outbound
from api.models import Scope
from rundbrief.events import EVENTS


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=120, help_text=_("What the key is for, e.g. “CRM sync”.")
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    expires_at = forms.DateTimeField(
        label=_("Expires"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Empty: never (revoke it when it is no longer needed)."),
    )
    rate_limit_per_minute = forms.IntegerField(
        label=_("Requests per minute"), min_value=1, max_value=100000, initial=120
    )

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError(_("Choose a time in the future."))
        return value


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Receives a signed POST for each event (header Rundbrief-Signature)."),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label=_("Announced events"), choices=list(EVENTS.items()), widget=forms.CheckboxSelectMultiple
    )

    def clean_url(self) -> str:
        """Checked now, so a manager hears of a refused address at once (and again at each delivery:
        a name can point elsewhere later)."""
        url = self.cleaned_data["url"]
        try:
            outbound.resolve(url)
        except outbound.Refused as exc:
            raise forms.ValidationError(_refusal(exc), code=exc.reason) from exc
        return url


def _refusal(exc: outbound.Refused) -> str:
    if exc.reason == outbound.Refused.SCHEME:
        return str(_("Only http and https URLs can receive webhooks."))
    if exc.reason == outbound.Refused.PORT:
        return str(_("The port is not a number from 1 to 65535."))
    if exc.reason == outbound.Refused.UNRESOLVABLE:
        return str(_("%(host)s cannot be found (DNS).")) % {"host": exc.host}
    return str(
        _(
            "%(host)s is a private, loopback or reserved address (%(address)s): webhooks are not sent "
            "into this server's own networks."
        )
    ) % {"host": exc.host, "address": exc.address}
