"""Forms of the staff inbox."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.interface import Campaign
from replies.models import Conversation, SavedReply, Tag, Team
from replies.saved_replies import VARIABLES, unknown_variables
from replies.search import Filters
from replies.selectors import assignable_staff, staff_display_name


class ReplyForm(forms.Form):
    text = forms.CharField(
        label=_("Your answer"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Sent under your name, with your signature, threaded to the subscriber's last mail."),
    )
    # The newest answer when the page was loaded: a newer one by somebody else asks first.
    seen_answer = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)
    confirm = forms.BooleanField(widget=forms.HiddenInput, required=False)
    # The saved reply the text was made from (its use is counted when the answer is sent).
    saved_reply = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)


class NoteForm(forms.Form):
    # Its own id: the answer form on the same page has a "text" field too (id_text).
    text = forms.CharField(
        label=_("Internal note"), widget=forms.Textarea(attrs={"rows": 3, "id": "id_note_text"})
    )


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=_("Assign to"),
        queryset=assignable_staff(),
        required=False,
        empty_label=_("Nobody (shared queue)"),
    )
    note = forms.CharField(
        label=_("Note to the new assignee"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_staff()
        self.fields["assignee"].label_from_instance = _staff_label


def _staff_label(user: object) -> str:
    return staff_display_name(user)


class SnoozeForm(forms.Form):
    until = forms.DateTimeField(
        label=_("Snooze until"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until <= timezone.now():
            raise forms.ValidationError(_("Choose a time in the future."))
        return until


class SearchForm(forms.Form):
    """The inbox search: words, and filters that narrow it (any of them alone is a search too)."""

    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("any"))] + list(Conversation.Status.choices)
    )
    assignee = forms.ChoiceField(label=_("Assigned to"), required=False)
    team = forms.ModelChoiceField(
        label=_("Team"), required=False, queryset=Team.objects.all(), empty_label=_("any")
    )
    tag = forms.ModelChoiceField(
        label=_("Tag"), required=False, queryset=Tag.objects.all(), empty_label=_("any")
    )
    campaign = forms.ModelChoiceField(
        label=_("Campaign"), required=False, queryset=Campaign.objects.order_by("-id"), empty_label=_("any")
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: object, user: object = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update({"type": "search", "id": "id_search_q"})
        self.fields["assignee"].choices = [("", _("anybody")), ("none", _("nobody (shared queue)"))] + [
            (str(person.pk), staff_display_name(person)) for person in assignable_staff()
        ]

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            status=data.get("status") or "",
            assignee=data.get("assignee") or "",
            team=data["team"].pk if data.get("team") else None,
            tag=data["tag"].pk if data.get("tag") else None,
            campaign=data["campaign"].pk if data.get("campaign") else None,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


class SavedReplyForm(forms.ModelForm):
    class Meta:
        model = SavedReply
        fields = ["title", "body", "scope", "team"]
        widgets = {"body": forms.Textarea(attrs={"rows": 8, "id": "id_saved_body"})}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["body"].help_text = _("Variables: %(names)s") % {
            "names": ", ".join("{{ " + name + " }}" for name in VARIABLES)
        }
        self.fields["title"].widget.attrs["id"] = "id_saved_title"

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        unknown = unknown_variables(body)
        if unknown:
            raise forms.ValidationError(_("Unknown variable: %(names)s.") % {"names": ", ".join(unknown)})
        return body
