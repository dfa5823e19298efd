"""Forms for the public signup page and the preference centre."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from subscribers import attributes, selectors
from subscribers.models import Attribute, Subscriber
from subscribers.validation import clean_email, clean_name

# Names get no max_length here: the browser would then cut a longer one silently (maxlength);
# clean_name refuses it with a message that says so.


class TopicChoiceField(forms.ModelMultipleChoiceField):
    """Topics by their name in the active language (the visitor's or subscriber's)."""

    def label_from_instance(self, obj) -> str:
        return obj.shown_name


class SignupForm(forms.Form):
    email = forms.CharField(label=_("Email address"), max_length=320, widget=forms.EmailInput())
    name = forms.CharField(label=_("Name (optional)"), required=False)
    language = forms.ChoiceField(label=_("Language of our mails"), choices=settings.LANGUAGES)
    topics = TopicChoiceField(
        label=_("Topics"),
        queryset=selectors.public_topics(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Please choose at least one topic.")},
    )
    # The version of the consent text the page showed, so the proof records exactly that one.
    consent_version = forms.CharField(widget=forms.HiddenInput)
    # Honeypot: hidden from people by CSS; bots fill it in.
    website = forms.CharField(label=_("Leave this field empty"), required=False)

    def __init__(self, *args, page_language: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.page_language = page_language
        self.consent = None
        # The fields marketers marked public (audience desk), asked here, all optional.
        self.public_attributes = list(Attribute.objects.filter(is_public=True))
        for attribute in self.public_attributes:
            self.fields[f"attr_{attribute.key}"] = attributes.form_field(attribute)

    @property
    def attribute_fields(self) -> list:
        return [self[f"attr_{attribute.key}"] for attribute in self.public_attributes]

    def attribute_values(self) -> dict:
        """The typed values given (after is_valid); empty fields are left out."""
        values = {}
        for attribute in self.public_attributes:
            try:
                value = attributes.clean_value(attribute, self.cleaned_data.get(f"attr_{attribute.key}"))
            except ValidationError:
                continue  # reported by clean()
            if value is not None:
                values[attribute.key] = value
        return values

    def clean(self):
        data = super().clean()
        for attribute in self.public_attributes:
            name = f"attr_{attribute.key}"
            try:
                attributes.clean_value(attribute, data.get(name))
            except ValidationError as exc:
                self.add_error(name, exc)
        return data

    def clean_email(self) -> str:
        return clean_email(self.cleaned_data["email"])

    def clean_name(self) -> str:
        return clean_name(self.cleaned_data["name"])

    def clean_consent_version(self) -> str:
        version = self.cleaned_data["consent_version"]
        self.consent = selectors.consent_text(version=version, language=self.page_language)
        if self.consent is None:
            raise ValidationError(
                _(
                    "The consent text has changed meanwhile. "
                    "Please read the current text and send the form again."
                ),
                code="consent_changed",
            )
        return version

    @property
    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get("website"))


class PreferencesForm(forms.Form):
    topics = TopicChoiceField(
        label=_("Topics"), queryset=None, widget=forms.CheckboxSelectMultiple, required=False
    )
    frequency = forms.ChoiceField(label=_("How often"), choices=Subscriber.Frequency.choices)
    # Only for "a limited number per week/month" (hidden by the page for "every issue").
    frequency_limit = forms.IntegerField(
        label=_("How many mails at most"), min_value=1, max_value=100, required=False
    )
    paused_until = forms.DateField(
        label=_("Pause all mail until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Leave empty to receive mail without a pause."),
    )
    format = forms.ChoiceField(label=_("Format"), choices=Subscriber.Format.choices, widget=forms.RadioSelect)
    name = forms.CharField(label=_("Name"), required=False)
    language = forms.ChoiceField(label=_("Language of our mails"), choices=settings.LANGUAGES)

    def __init__(self, *args, subscriber: Subscriber, **kwargs):
        super().__init__(*args, **kwargs)
        self.subscriber = subscriber
        self.fields["topics"].queryset = selectors.preference_topics(subscriber)

    def clean_name(self) -> str:
        return clean_name(self.cleaned_data["name"])

    def clean(self):
        data = super().clean()
        if data.get("frequency") == Subscriber.Frequency.EVERY_ISSUE:
            # Not asked for "every issue": keep what was chosen before for a later limit.
            data["frequency_limit"] = self.subscriber.frequency_limit
        elif "frequency_limit" in data and data["frequency_limit"] is None:
            self.add_error("frequency_limit", _("Please say how many mails at most."))
        return data

    def clean_paused_until(self):
        paused_until = self.cleaned_data["paused_until"]
        if paused_until and paused_until <= timezone.localdate():
            raise ValidationError(_("Please choose a date in the future, or leave the field empty."))
        return paused_until
