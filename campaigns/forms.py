"""Forms of the campaign editor. Validation compiles the campaign, so errors carry their lines."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from campaigns.rendering import CampaignRenderError, compile_campaign
from subscribers.models import Topic


def contact_choices():
    """Staff who can answer replies: staff users or members of any group."""
    User = get_user_model()
    return (
        User.objects.filter(Q(is_staff=True) | Q(groups__isnull=False), is_active=True)
        .distinct()
        .order_by("username")
    )


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = contact_choices()
        self.fields["contact"].required = False
        self.fields["segment"].help_text = _(
            "Optional: the topics' subscribers are narrowed to those in this segment (the audience desk's "
            "saved filters)."
        )
        self.fields["contact"].help_text = _(
            "Named in the footer of every mail and answers the replies. Empty: the first topic's owner."
        )

    def clean(self):
        cleaned = super().clean()
        topics = sorted(cleaned.get("topics") or [], key=lambda topic: topic.pk)
        if not cleaned.get("contact") and not (topics and topics[0].owner_id):
            # Every mail names this person in its footer ("… will answer you personally").
            self.add_error(
                "contact",
                _(
                    "Choose the contact person: the footer of every mail names who answers replies, "
                    "and the first topic has no owner to stand in."
                ),
            )
        if "mjml_body" in cleaned:
            try:
                compile_campaign(mjml_body=cleaned["mjml_body"], text_body=cleaned.get("text_body", ""))
            except CampaignRenderError as exc:
                for problem in exc.problems:
                    field = "text_body" if problem.part == "text" else "mjml_body"
                    line = _("Line %(line)s: ") % {"line": problem.line} if problem.line else ""
                    self.add_error(field, f"{line}{problem.message}")
        return cleaned


class TestSendForm(forms.Form):
    addresses = forms.CharField(
        label=_("Send a test to"),
        help_text=_("Up to 10 addresses, separated by commas or spaces."),
        widget=forms.TextInput(attrs={"placeholder": "me@example.org"}),
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
