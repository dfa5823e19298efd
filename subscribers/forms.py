"""Forms for the public signup page and the preference centre."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from subscribers import selectors
from subscribers.models import Subscriber
from subscribers.validation import clean_email


class SignupForm(forms.Form):
    email = forms.CharField(label=_("Email address"), max_length=320, widget=forms.EmailInput())
    name = forms.CharField(label=_("Name (optional)"), max_length=200, required=False)
    language = forms.ChoiceField(label=_("Language of our mails"), choices=settings.LANGUAGES)
    topics = forms.ModelMultipleChoiceField(
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

    def clean_email(self) -> str:
        return clean_email(self.cleaned_data["email"])

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
    topics = forms.ModelMultipleChoiceField(
        label=_("Topics"), queryset=None, widget=forms.CheckboxSelectMultiple, required=False
    )
    frequency = forms.ChoiceField(label=_("How often"), choices=Subscriber.Frequency.choices)
    frequency_limit = forms.IntegerField(
        label=_("N (for “at most N”)"), min_value=1, max_value=100, initial=1
    )
    paused_until = forms.DateField(
        label=_("Pause all mail until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Leave empty to receive mail without a pause."),
    )
    format = forms.ChoiceField(label=_("Format"), choices=Subscriber.Format.choices, widget=forms.RadioSelect)
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)

    def __init__(self, *args, subscriber: Subscriber, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["topics"].queryset = selectors.preference_topics(subscriber)

    def clean_paused_until(self):
        paused_until = self.cleaned_data["paused_until"]
        if paused_until and paused_until <= timezone.localdate():
            raise ValidationError(_("Please choose a date in the future, or leave the field empty."))
        return paused_until
