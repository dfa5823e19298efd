"""Forms of the staff inbox."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import validate_email
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.interface import Campaign
from replies.models import Conversation, RoutingRule, SavedReply, StaffProfile, Tag, Team
from replies.saved_replies import VARIABLES, unknown_variables
from replies.search import Filters
from replies.selectors import assignable_staff, staff_display_name


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


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
    cc = forms.CharField(
        label=_("CC"),
        required=False,
        widget=forms.TextInput(attrs={"id": "id_reply_cc"}),
        help_text=_("Further recipients, separated by commas."),
    )
    attachments = MultipleFileField(label=_("Attachments"), required=False)

    def clean_cc(self) -> list[str]:
        addresses = [
            part.strip() for part in self.cleaned_data["cc"].replace(";", ",").split(",") if part.strip()
        ]
        for address in addresses:
            try:
                validate_email(address)
            except forms.ValidationError as exc:
                raise forms.ValidationError(
                    _("“%(address)s” is not an email address.") % {"address": address}
                ) from exc
        return addresses[:20]

    def clean_attachments(self) -> list:
        files = self.cleaned_data["attachments"] or []
        if sum(item.size for item in files) > settings.ANSWER_MAX_ATTACHMENT_BYTES:
            raise forms.ValidationError(
                _("The attachments are larger than %(size)s together.")
                % {"size": filesizeformat(settings.ANSWER_MAX_ATTACHMENT_BYTES)}
            )
        return files


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


class ProfileForm(forms.ModelForm):
    """A staff member's own profile, outside the admin."""

    class Meta:
        model = StaffProfile
        fields = [
            "display_name",
            "signature",
            "is_away",
            "away_from",
            "away_until",
            "deputy",
            "notify_by_email",
            "notify_on_mention",
            "notify_on_follow",
        ]
        widgets = {
            "signature": forms.Textarea(attrs={"rows": 4, "id": "id_profile_signature"}),
            "away_from": forms.DateInput(attrs={"type": "date"}),
            "away_until": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["deputy"].queryset = assignable_staff().exclude(pk=self.instance.user_id)
        self.fields["deputy"].label_from_instance = _staff_label
        self.fields["is_away"].help_text = _(
            "Away now, whatever the dates say. New conversations go to the deputy."
        )
        self.fields["away_from"].help_text = _("Or give dates: away from this day …")
        self.fields["away_until"].help_text = _("… until this day (both included).")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("away_from") and data.get("away_until") and data["away_until"] < data["away_from"]:
            self.add_error("away_until", _("The last day of the absence is before its first day."))
        if (data.get("is_away") or data.get("away_from") or data.get("away_until")) and not data.get(
            "deputy"
        ):
            self.add_error(
                "deputy", _("Name a deputy for your absence (or new conversations go to the shared queue).")
            )
        return data


WEEKDAYS = [
    ("1", _("Monday")),
    ("2", _("Tuesday")),
    ("3", _("Wednesday")),
    ("4", _("Thursday")),
    ("5", _("Friday")),
    ("6", _("Saturday")),
    ("7", _("Sunday")),
]


class TeamHoursForm(forms.ModelForm):
    """A team's business hours and its target for the first answer (managers, in the inbox)."""

    business_days = forms.MultipleChoiceField(
        label=_("Business days"), choices=WEEKDAYS, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Team
        fields = ["sla_minutes", "business_days", "business_start", "business_end"]
        widgets = {
            "business_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "business_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.initial["business_days"] = list(self.instance.business_days or "")
        self.fields["sla_minutes"].help_text = _(
            "Counted in business minutes from the subscriber's mail; empty: no target."
        )
        self.fields["sla_minutes"].widget.attrs["min"] = 1

    def clean_business_days(self) -> str:
        return "".join(sorted(set(self.cleaned_data["business_days"])))

    def clean_sla_minutes(self) -> int | None:
        minutes = self.cleaned_data["sla_minutes"]
        if minutes is not None and minutes < 1:
            raise forms.ValidationError(_("Give at least one minute, or leave it empty for no target."))
        return minutes

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("business_start"), data.get("business_end")
        if start and end and end <= start:
            self.add_error("business_end", _("Business hours end after they start (on the same day)."))
        return data


class RoutingRuleForm(forms.ModelForm):
    """A routing rule in the inbox's rule editor: what it looks for, whom it gives the conversation
    to, and the tags it adds (names, created when new)."""

    tag_names = forms.CharField(
        label=_("Add tags"),
        required=False,
        help_text=_("Separated by commas. Every conversation this rule matches gets them."),
    )

    class Meta:
        model = RoutingRule
        fields = [
            "name",
            "position",
            "is_active",
            "field",
            "match_type",
            "pattern",
            "topic",
            "assign_to",
            "assign_to_team",
        ]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assign_to"].queryset = assignable_staff()
        self.fields["assign_to"].label_from_instance = _staff_label
        self.fields["tag_names"].widget.attrs["id"] = "id_rule_tags"
        if self.instance.pk:
            self.initial["tag_names"] = ", ".join(tag.name for tag in self.instance.add_tags.all())

    def clean_tag_names(self) -> list[str]:
        names: dict[str, str] = {}
        for part in self.cleaned_data["tag_names"].split(","):
            name = part.strip().lstrip("#").strip()
            if len(name) > 60:
                raise forms.ValidationError(
                    _("A tag has at most 60 characters: “%(name)s”.") % {"name": name[:60]}
                )
            if name:
                names.setdefault(name.lower(), name)
        return list(names.values())


class ComposeForm(ReplyForm):
    """The first mail of a conversation staff start with a subscriber (from their page)."""

    subject = forms.CharField(
        label=_("Subject"), max_length=200, widget=forms.TextInput(attrs={"id": "id_compose_subject"})
    )

    field_order = ["subject", "text", "cc", "attachments"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        for name in ("seen_answer", "confirm", "saved_reply"):
            del self.fields[name]
        self.fields["text"].label = _("Your message")
        self.fields["text"].help_text = _(
            "Sent under your name, with your signature; their answer comes back to you."
        )
