"""Forms of the campaign editor. Validation compiles the campaign, so errors carry their lines."""

from __future__ import annotations

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from campaigns.rendering import CampaignRenderError, compile_campaign
from replies import interface as replies
from subscribers.models import Topic


def contact_choices():
    """People who may answer the replies (Staff or Managers, active) and have a name to sign with:
    the footer says "<name> will answer you personally", so a bare username or an admin account
    is no choice."""
    return replies.assignable_staff().filter(
        Q(first_name__gt="") | Q(last_name__gt="") | Q(staff_profile__display_name__gt="")
    )


class ContactField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return replies.staff_display_name(obj)


# Which editor field a render problem belongs to (the rest are the body's).
PROBLEM_FIELDS = {"text": "text_body", "subject": "subject", "preheader": "preheader"}


def problems_as_text(exc: CampaignRenderError) -> list[str]:
    return [
        (_("Line %(line)s: %(message)s") % {"line": p.line, "message": p.message}) if p.line else p.message
        for p in exc.problems
    ]


class CampaignForm(forms.ModelForm):
    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.filter(archived_at__isnull=True),
        widget=forms.CheckboxSelectMultiple,
        label=_("Topics"),
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "topics",
            "segment",
            "subject",
            "preheader",
            "from_name",
            "contact",
            "mjml_body",
            "text_body",
        ]
        labels = {
            "name": _("Name (internal)"),
            "segment": _("Only subscribers in the segment"),
            "subject": _("Subject"),
            "preheader": _("Preheader"),
            "from_name": _("Sender name"),
            "contact": _("Contact person"),
            "mjml_body": _("Body (MJML)"),
            "text_body": _("Plain-text part"),
        }
        widgets = {
            "mjml_body": forms.Textarea(attrs={"rows": 22, "spellcheck": "false", "data-preview-source": ""}),
            "text_body": forms.Textarea(attrs={"rows": 6}),
        }

    contact = ContactField(
        queryset=None,
        label=_("Contact person"),
        help_text=_(
            "Named in the footer of every mail (“… will answer you personally”) and answers the replies."
        ),
        error_messages={
            "required": _("Choose the contact person: the footer of every mail names who answers replies.")
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = contact_choices()
        self.fields["segment"].help_text = _(
            "Optional: the topics' subscribers are narrowed to those in this segment (the audience desk's "
            "saved filters)."
        )

    def clean(self):
        cleaned = super().clean()
        if "mjml_body" in cleaned:
            try:
                compile_campaign(
                    mjml_body=cleaned["mjml_body"],
                    text_body=cleaned.get("text_body", ""),
                    subject=cleaned.get("subject", ""),
                    preheader=cleaned.get("preheader", ""),
                )
            except CampaignRenderError as exc:
                for problem in exc.problems:
                    field = PROBLEM_FIELDS.get(problem.part, "mjml_body")
                    line = _("Line %(line)s: ") % {"line": problem.line} if problem.line else ""
                    self.add_error(field, f"{line}{problem.message}")
        return cleaned


class TestSendForm(forms.Form):
    addresses = forms.CharField(
        label=_("Send a test to"),
        help_text=_("Up to 10 addresses, separated by commas or spaces."),
        widget=forms.TextInput(attrs={"placeholder": "me@example.org"}),
    )

    as_subscriber = forms.EmailField(
        label=_("Rendered as subscriber"),
        required=False,
        help_text=_("Their name, language and format, as in the preview. Empty: the sample subscriber."),
        widget=forms.EmailInput(attrs={"placeholder": _("sample subscriber")}),
    )

    def address_list(self) -> list[str]:
        return [a for a in self.cleaned_data["addresses"].replace(",", " ").split() if a]


class LaunchForm(forms.Form):
    at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Empty: send now."),
    )
    # Set by the confirmation step ("Send to N people?"); without it the view only asks.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)
