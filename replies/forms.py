"""Forms of the staff inbox."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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
