"""Typed fields that marketers define (Attribute): one form field and one stored value per type.

Used by the audience desk (marketers edit a subscriber) and the preference centre (subscribers
see, change and delete their own values), so both store the same JSON: text and choices as
strings, numbers as numbers, dates as ISO text, yes/no as booleans; an empty input deletes.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from subscribers.models import Attribute

YES_NO = [("yes", _("Yes")), ("no", _("No"))]
MAX_TEXT = 500


def label(attribute: Attribute) -> str:
    return attribute.label((get_language() or "en")[:2])


def form_field(attribute: Attribute, *, required: bool = False) -> forms.Field:
    """The form field for one attribute, labelled in the active language."""
    text = label(attribute)
    if attribute.kind == Attribute.Kind.NUMBER:
        return forms.DecimalField(label=text, required=required)
    if attribute.kind == Attribute.Kind.DATE:
        return forms.DateField(label=text, required=required, widget=forms.DateInput(attrs={"type": "date"}))
    if attribute.kind == Attribute.Kind.CHOICE:
        return forms.ChoiceField(
            label=text, required=required, choices=[("", "—")] + [(c, c) for c in attribute.choices]
        )
    if attribute.kind == Attribute.Kind.YES_NO:
        return forms.ChoiceField(label=text, required=required, choices=[("", "—"), *YES_NO])
    return forms.CharField(label=text, required=required, max_length=MAX_TEXT)


def clean_value(attribute: Attribute, raw) -> object:
    """A value typed for storage in Subscriber.attributes; None means "not set" (deleted)."""
    if raw in (None, ""):
        return None
    if attribute.kind == Attribute.Kind.NUMBER:
        number = raw if not isinstance(raw, str) else forms.DecimalField().clean(raw)
        return int(number) if number == int(number) else float(number)
    if attribute.kind == Attribute.Kind.DATE:
        return (raw if isinstance(raw, date) else forms.DateField().clean(raw)).isoformat()
    if attribute.kind == Attribute.Kind.YES_NO:
        if isinstance(raw, bool):
            return raw
        if raw in ("yes", "true", "1", "on"):
            return True
        if raw in ("no", "false", "0"):
            return False
        raise ValidationError(_("Choose yes or no."))
    if attribute.kind == Attribute.Kind.CHOICE:
        if raw not in attribute.choices:
            raise ValidationError(_("Choose one of: %(choices)s") % {"choices": ", ".join(attribute.choices)})
        return raw
    value = str(raw).strip()
    if len(value) > MAX_TEXT:
        raise ValidationError(_("At most 500 characters."))
    return value or None


def initial(attribute: Attribute, value) -> object:
    if value is None:
        return ""
    if attribute.kind == Attribute.Kind.YES_NO:
        return "yes" if value else "no"
    return value


class AttributesForm(forms.Form):
    """One field per defined attribute, filled with the subscriber's values."""

    prefix = "attr"

    def __init__(self, *args, subscriber, attributes: list[Attribute] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.attributes = list(Attribute.objects.all()) if attributes is None else attributes
        for attribute in self.attributes:
            self.fields[attribute.key] = form_field(attribute)
            if not self.is_bound:
                self.initial[attribute.key] = initial(attribute, subscriber.attributes.get(attribute.key))

    def clean(self):
        data = super().clean()
        values = {}
        for attribute in self.attributes:
            try:
                values[attribute.key] = clean_value(attribute, data.get(attribute.key))
            except ValidationError as exc:
                self.add_error(attribute.key, exc)
        data["values"] = values
        return data
