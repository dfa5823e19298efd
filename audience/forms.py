"""Forms of the audience desk: the list's filters (also a segment's), a subscriber's edit,
topics, attributes, segments, bulk actions, and the CSV import's steps."""

from __future__ import annotations

from datetime import date

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from audience.filters import SUPPRESSION_ANY, SUPPRESSION_NONE, AttributeCondition, AudienceFilter
from audience.selectors import DEFAULT_SORT, SORTS
from campaigns.forms import ContactField, contact_choices
from campaigns.models import Campaign
from campaigns.versions import language_name, languages
from subscribers import attributes
from subscribers.importing import COLUMNS as IMPORT_COLUMNS
from subscribers.models import Attribute, ConsentEvent, Subscriber, Subscription, Suppression, Topic
from subscribers.validation import clean_name

ANY = [("", _("Any"))]
YES_NO = attributes.YES_NO
_attribute_label = attributes.label


class FilterForm(forms.Form):
    """The list's filters; a segment saves the same fields (``to_filter().as_json()``)."""

    q = forms.CharField(label=_("Search address or name"), required=False, max_length=200)
    status = forms.ChoiceField(
        label=_("Status"), choices=ANY + list(Subscriber.Status.choices), required=False
    )
    topic = forms.ModelChoiceField(label=_("Topic"), queryset=Topic.objects.order_by("name"), required=False)
    topic_status = forms.ChoiceField(
        label=_("State in the topic"),
        # Active first: a bound form without this value shows (and submits) the first choice.
        choices=sorted(
            Subscription.Status.choices, key=lambda choice: choice[0] != Subscription.Status.ACTIVE
        ),
        initial=Subscription.Status.ACTIVE,
        required=False,
    )
    language = forms.ChoiceField(label=_("Language"), choices=ANY + list(settings.LANGUAGES), required=False)
    source = forms.ChoiceField(
        label=_("Source"),
        choices=ANY
        + [
            (value, label)
            for value, label in ConsentEvent.Source.choices
            if value in (ConsentEvent.Source.FORM, ConsentEvent.Source.API, ConsentEvent.Source.IMPORT)
        ],
        required=False,
    )
    consent_from = forms.DateField(
        label=_("Confirmed from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    consent_to = forms.DateField(
        label=_("Confirmed until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    suppression = forms.ChoiceField(
        label=_("Bounced or suppressed"),
        choices=ANY
        + [
            (SUPPRESSION_ANY, _("On the suppression list (any reason)")),
            (SUPPRESSION_NONE, _("Not suppressed")),
        ]
        + list(Suppression.Reason.choices),
        required=False,
    )
    consent_older_than_days = forms.IntegerField(
        label=_("Consent older than (days)"), min_value=0, max_value=36500, required=False
    )
    consent_newer_than_days = forms.IntegerField(
        label=_("Consent newer than (days)"), min_value=0, max_value=36500, required=False
    )
    received_last = forms.IntegerField(
        label=_("Received one of the last … campaigns"), min_value=1, max_value=100, required=False
    )
    not_received_last = forms.IntegerField(
        label=_("Received none of the last … campaigns"), min_value=1, max_value=100, required=False
    )
    replied_last = forms.IntegerField(
        label=_("Replied to one of the last … campaigns"), min_value=1, max_value=100, required=False
    )
    received_campaign = forms.ModelChoiceField(
        label=_("Received the campaign"),
        queryset=Campaign.objects.filter(started_at__isnull=False).order_by("-started_at"),
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.attributes = list(Attribute.objects.all())
        for attribute in self.attributes:
            label = _attribute_label(attribute)
            if attribute.kind in (Attribute.Kind.NUMBER, Attribute.Kind.DATE):
                widget = (
                    forms.DateInput(attrs={"type": "date"}) if attribute.kind == Attribute.Kind.DATE else None
                )
                field_class = forms.DateField if attribute.kind == Attribute.Kind.DATE else forms.DecimalField
                for suffix, bound in (("min", _("from")), ("max", _("to"))):
                    self.fields[f"attr_{attribute.key}_{suffix}"] = field_class(
                        label=f"{label} ({bound})", required=False, **({"widget": widget} if widget else {})
                    )
            elif attribute.kind == Attribute.Kind.CHOICE:
                self.fields[f"attr_{attribute.key}"] = forms.ChoiceField(
                    label=label, choices=ANY + [(c, c) for c in attribute.choices], required=False
                )
            elif attribute.kind == Attribute.Kind.YES_NO:
                self.fields[f"attr_{attribute.key}"] = forms.ChoiceField(
                    label=label, choices=ANY + YES_NO, required=False
                )
            else:
                self.fields[f"attr_{attribute.key}"] = forms.CharField(label=label, required=False)

    @property
    def attribute_fields(self) -> list:
        return [self[name] for name in self.fields if name.startswith("attr_")]

    def to_filter(self) -> AudienceFilter:
        """The cleaned filter; call after is_valid() (invalid fields are left out)."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        conditions = []
        for attribute in self.attributes:
            key = attribute.key

            def text(name: str) -> str:
                value = data.get(name)
                if value in (None, ""):
                    return ""
                return value.isoformat() if isinstance(value, date) else str(value)

            condition = AttributeCondition(
                key=key,
                value=text(f"attr_{key}"),
                minimum=text(f"attr_{key}_min"),
                maximum=text(f"attr_{key}_max"),
            )
            if condition.value or condition.minimum or condition.maximum:
                conditions.append(condition)
        topic = data.get("topic")
        campaign = data.get("received_campaign")
        return AudienceFilter(
            q=(data.get("q") or "").strip(),
            status=data.get("status") or "",
            topic=topic.pk if topic else None,
            topic_status=data.get("topic_status") or Subscription.Status.ACTIVE,
            language=data.get("language") or "",
            source=data.get("source") or "",
            consent_from=data.get("consent_from"),
            consent_to=data.get("consent_to"),
            suppression=data.get("suppression") or "",
            attributes=tuple(conditions),
            consent_older_than_days=data.get("consent_older_than_days"),
            consent_newer_than_days=data.get("consent_newer_than_days"),
            received_last=data.get("received_last"),
            not_received_last=data.get("not_received_last"),
            replied_last=data.get("replied_last"),
            received_campaign=campaign.pk if campaign else None,
        )


def filter_initial(spec: AudienceFilter) -> dict:
    """Form data that shows a saved filter again (the segment editor)."""
    data: dict = {}
    for name, value in spec.as_json().items():
        if name == "attributes":
            for condition in value:
                for suffix, part in (("", "value"), ("_min", "minimum"), ("_max", "maximum")):
                    if condition[part]:
                        data[f"attr_{condition['key']}{suffix}"] = condition[part]
        elif value not in (None, ""):
            data[name] = value
    return data


class SortForm(forms.Form):
    sort = forms.ChoiceField(
        label=_("Sort"), choices=[(s.key, s.label) for s in SORTS], required=False, initial=DEFAULT_SORT
    )


class SubscriberForm(forms.Form):
    name = forms.CharField(label=_("Name"), required=False, max_length=200)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)

    def __init__(self, *args, subscriber: Subscriber, **kwargs):
        super().__init__(*args, **kwargs)
        self.attributes = list(Attribute.objects.all())
        if not self.is_bound:
            self.initial = {"name": subscriber.name, "language": subscriber.language}
        for attribute in self.attributes:
            self.fields[f"attr_{attribute.key}"] = attributes.form_field(attribute)
            if not self.is_bound:
                self.initial[f"attr_{attribute.key}"] = attributes.initial(
                    attribute, subscriber.attributes.get(attribute.key)
                )

    def clean_name(self) -> str:
        return clean_name(self.cleaned_data["name"])

    def clean(self):
        data = super().clean()
        values = {}
        for attribute in self.attributes:
            name = f"attr_{attribute.key}"
            try:
                values[attribute.key] = attributes.clean_value(attribute, data.get(name))
            except ValidationError as exc:
                self.add_error(name, exc)
        data["attribute_values"] = values
        return data


class TopicForm(forms.ModelForm):
    # Shown by the name they answer under, like the campaign editor's contact person.
    owner = ContactField(queryset=None, required=False, label=_("Owner (answers replies)"))

    def clean_slug(self) -> str:
        slug = self.cleaned_data.get("slug") or ""
        if slug and not self.instance.pk and Topic.objects.filter(slug=slug).exists():
            raise ValidationError(_("Another topic has this short name."))
        return slug

    class Meta:
        model = Topic
        fields = ["name", "slug", "description", "is_public", "owner"]
        labels = {
            "name": _("Name"),
            "slug": _("Short name in links and the API"),
            "description": _("Description"),
            "is_public": _("Public (offered on the signup page)"),
            "owner": _("Owner (answers replies)"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = contact_choices()
        self.fields["slug"].required = False  # made from the name when empty (services.save_topic)
        if self.instance.pk:
            self.fields["slug"].disabled = True  # links in sent mails name it
            self.fields["slug"].help_text = _("Cannot be changed: links in mails already sent use it.")
        # The name and description in each other language (Topic.translations); an empty one
        # shows the other language's.
        site = language_name(settings.LANGUAGE_CODE)
        self.fields["name"].help_text = _("The name in %(language)s, the site's language.") % {
            "language": site
        }
        saved = self.instance.translations if self.instance.pk else {}
        for code in languages():
            if code == settings.LANGUAGE_CODE:
                continue
            values = saved.get(code) or {}
            language = language_name(code)
            self.fields[f"name_{code}"] = forms.CharField(
                label=_("Name in %(language)s") % {"language": language},
                max_length=200,
                required=False,
                initial=values.get("name", ""),
                help_text=_("Empty: the %(language)s name is shown.") % {"language": site},
            )
            self.fields[f"description_{code}"] = forms.CharField(
                label=_("Description in %(language)s") % {"language": language},
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
                initial=values.get("description", ""),
            )

    def translations(self) -> dict[str, dict[str, str]]:
        """{language: {name, description}} from the per-language fields (empty ones left out)."""
        found = {}
        for code in languages():
            if code == settings.LANGUAGE_CODE:
                continue
            values = {
                "name": self.cleaned_data.get(f"name_{code}", "").strip(),
                "description": self.cleaned_data.get(f"description_{code}", "").strip(),
            }
            if any(values.values()):
                found[code] = values
        return found


class AttributeForm(forms.ModelForm):
    choices_text = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line; only for the type Choice."),
    )

    class Meta:
        model = Attribute
        fields = ["key", "label_en", "label_de", "kind", "is_public"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["key"].disabled = True
            self.fields["kind"].disabled = True  # stored values are typed
            self.initial["choices_text"] = "\n".join(self.instance.choices)

    def clean(self):
        data = super().clean()
        choices = [line.strip() for line in (data.get("choices_text") or "").splitlines() if line.strip()]
        if data.get("kind") == Attribute.Kind.CHOICE and not choices:
            self.add_error("choices_text", _("Give at least one choice."))
        data["choices"] = list(dict.fromkeys(choices)) if data.get("kind") == Attribute.Kind.CHOICE else []
        return data


class SegmentNameForm(forms.Form):
    name = forms.CharField(label=_("Segment name"), max_length=200)


class BulkActionForm(forms.Form):
    ADD, REMOVE, EXPORT, ERASE = "add_topic", "remove_topic", "export", "erase"
    action = forms.ChoiceField(
        label=_("Action"),
        choices=[
            (ADD, _("Add to topic")),
            (REMOVE, _("Remove from topic")),
            (EXPORT, _("Export as CSV")),
            (ERASE, _("Erase")),
        ],
    )
    scope = forms.ChoiceField(
        label=_("Apply to"),
        choices=[
            ("selected", _("The selected subscribers")),
            ("all", _("Every subscriber matching the filter")),
        ],
        initial="selected",
        widget=forms.RadioSelect,
    )
    # The ids of the checked rows (read in clean_selected: any id, narrowed to the filter's result).
    selected = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    # Not "topic": the filter's own fields travel in the same POST.
    target_topic = forms.ModelChoiceField(
        label=_("Topic"), queryset=Topic.objects.filter(archived_at__isnull=True), required=False
    )
    confirmation = forms.CharField(label=_("Type ERASE to confirm"), required=False)

    def clean_selected(self):
        return [int(value) for value in self.data.getlist("selected") if str(value).isdigit()]

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action in (self.ADD, self.REMOVE) and not data.get("target_topic"):
            self.add_error("target_topic", _("Choose the topic."))
        if action == self.ERASE and (data.get("confirmation") or "").strip() != "ERASE":
            self.add_error("confirmation", _("Type ERASE in capitals to erase these subscribers."))
        if data.get("scope") == "selected" and not data.get("selected"):
            raise ValidationError(
                _("Select at least one subscriber, or apply to every one matching the filter.")
            )
        return data


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file (UTF-8) or Excel file (.xlsx)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx,text/csv"}),
    )
    topic = forms.ModelChoiceField(
        label=_("Into the topic"), queryset=Topic.objects.filter(archived_at__isnull=True)
    )
    source = forms.CharField(
        label=_("Where the addresses come from"),
        max_length=200,
        help_text=_("Recorded with every imported subscriber, e.g. “trade fair 2026, paper form”."),
    )


def import_targets() -> list[tuple[str, str]]:
    """The import's columns, then every defined attribute (by its label, typed on import)."""
    fields = [
        (attribute.key, _("Field: %(label)s") % {"label": attributes.label(attribute)})
        for attribute in Attribute.objects.all()
        if attribute.key not in IMPORT_COLUMNS
    ]
    return [
        ("", _("(do not import)")),
        ("email", _("Email address")),
        ("name", _("Name")),
        ("language", _("Language")),
        ("consent_date", _("Date of the prior consent")),
        ("consent_source", _("Source of the prior consent")),
        *fields,
    ]


class ImportMappingForm(forms.Form):
    def __init__(self, *args, columns: list[str], mapping: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = columns
        choices = import_targets()
        for index, column in enumerate(columns):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=column or _("(unnamed column %(n)s)") % {"n": index + 1},
                choices=choices,
                required=False,
                initial=mapping.get(column, ""),
            )

    def clean(self):
        data = super().clean()
        chosen = [data.get(f"column_{index}") for index in range(len(self.columns))]
        targets = [target for target in chosen if target]
        if "email" not in targets:
            raise ValidationError(_("Choose the column with the email addresses."))
        if len(targets) != len(set(targets)):
            raise ValidationError(_("Each field can come from one column only."))
        return data

    def mapping(self) -> dict[str, str]:
        return {
            column: self.cleaned_data.get(f"column_{index}") or ""
            for index, column in enumerate(self.columns)
        }
