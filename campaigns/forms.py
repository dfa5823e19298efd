"""Forms of the campaign editor. Validation compiles the campaign, so errors carry their lines."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns import abtest
from campaigns.models import ABTest, Campaign, VariantB
from campaigns.rendering import CampaignRenderError, compile_campaign
from campaigns.versions import Content, language_name, languages
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
            "default_language",
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
            "default_language": _("Default language"),
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
        self.fields["default_language"] = forms.ChoiceField(
            label=_("Default language"),
            choices=language_choices(),
            required=False,  # not posted (an older form, a script): the campaign's, else the site's
            initial=self.instance.default_language if self.instance.pk else settings.LANGUAGE_CODE,
            help_text=_(
                "The language of the main version below. Subscribers whose language has no version of "
                "its own get this one."
            ),
        )
        self.fields["segment"].help_text = _(
            "Optional: the topics' subscribers are narrowed to those in this segment (the audience desk's "
            "saved filters)."
        )

    def clean(self):
        cleaned = super().clean()
        if "mjml_body" in cleaned:
            _add_render_errors(self, cleaned)
        return cleaned


VERSION_FIELDS = ("subject", "preheader", "mjml_body", "text_body")


def language_choices() -> list[tuple[str, str]]:
    return [(code, language_name(code)) for code in languages()]


class VersionForm(forms.Form):
    """One language's version in the editor (prefix ``v-<language>``); absent unless ``present``."""

    present = forms.BooleanField(required=False)
    subject = forms.CharField(label=_("Subject"), max_length=255, required=False)
    preheader = forms.CharField(label=_("Preheader"), max_length=255, required=False)
    mjml_body = forms.CharField(
        label=_("Body (MJML)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 22, "spellcheck": "false"}),
    )
    text_body = forms.CharField(
        label=_("Plain-text part"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )

    def __init__(self, *args, language: str, **kwargs):
        self.language = language
        super().__init__(*args, prefix=f"v-{language}", **kwargs)
        self.fields["present"].label = _(
            "Send a version in %(language)s to subscribers who read %(language)s"
        ) % {"language": language_name(language)}

    @property
    def language_name(self) -> str:
        return language_name(self.language)

    def is_present(self) -> bool:
        if not self.is_bound:
            return bool(self.initial.get("present"))
        return self["present"].value() in (True, "on", "true", "1", "True")

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("present"):
            return cleaned
        for name in ("subject", "mjml_body"):
            if not (cleaned.get(name) or "").strip():
                self.add_error(name, self.fields[name].error_messages["required"])
        if (cleaned.get("mjml_body") or "").strip():
            _add_render_errors(self, cleaned)
        return cleaned

    def content(self) -> dict[str, str]:
        return {name: self.cleaned_data[name] for name in VERSION_FIELDS}


def _add_render_errors(form: forms.Form, cleaned: dict, *, fields: tuple[str, ...] | None = None) -> None:
    """The render problems of ``cleaned`` added to the form's fields (to the body when a problem's
    field is not among ``fields``, the form's own)."""
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
            if fields is not None and field not in fields:
                field = fields[0]
            line = _("Line %(line)s: ") % {"line": problem.line} if problem.line else ""
            form.add_error(field, f"{line}{problem.message}")


def version_forms(data, campaign: Campaign | None, *, initial: dict | None = None) -> list[VersionForm]:
    """A form per language of settings.LANGUAGES, filled from the campaign's versions (or a
    template's); the editor shows those not in the default language. A present one in the default
    language is refused on saving (services.save_campaign), never dropped."""
    existing = {v.language: v for v in campaign.versions.all()} if campaign else {}
    initial = initial or {}
    found = []
    for code in languages():
        start = initial.get(code)
        if start is None and code in existing:
            start = {name: getattr(existing[code], name) for name in VERSION_FIELDS}
        found.append(
            VersionForm(data, language=code, initial={"present": start is not None, **(start or {})})
        )
    return found


def posted_versions(data, default_language: str) -> dict[str, dict[str, str]]:
    """The versions in a posted editor form that are present (for the live preview; unvalidated)."""
    found = {}
    for code in languages():
        prefix = f"v-{code}-"
        if code == default_language or data.get(prefix + "present") not in ("on", "true", "1", "True"):
            continue
        found[code] = {name: data.get(prefix + name, "") for name in VERSION_FIELDS}
    return found


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

    language = forms.ChoiceField(
        label=_("Version for the sample subscriber"),
        required=False,
        help_text=_("A subscriber given above gets the version in their own language."),
    )

    variant = forms.ChoiceField(
        label=_("A/B test variant"),
        choices=[("a", _("Variant A")), ("b", _("Variant B"))],
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = language_choices()

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


# --- A/B test by replies (campaigns.abtest) ---------------------------------------------------


class ABTestForm(forms.Form):
    """The editor's A/B test section (prefix ``ab``): off by default."""

    enabled = forms.BooleanField(label=_("Run an A/B test by replies"), required=False)
    kind = forms.ChoiceField(
        label=_("Variant B changes"),
        choices=ABTest.Kind.choices,
        initial=ABTest.Kind.SUBJECT,
        widget=forms.RadioSelect,
    )
    sample_percent = forms.IntegerField(
        label=_("Sample (percent of the audience)"),
        min_value=abtest.MIN_SAMPLE_PERCENT,
        max_value=abtest.MAX_SAMPLE_PERCENT,
        initial=20,
        help_text=_("Split evenly: half get A, half get B; the rest get the winner."),
    )
    wait_hours = forms.IntegerField(
        label=_("Wait before deciding (hours)"),
        min_value=abtest.MIN_WAIT_HOURS,
        max_value=abtest.MAX_WAIT_HOURS,
        initial=24,
        help_text=_(
            "Then the variant more people replied to wins (no opens, no clicks: nothing is tracked); "
            "on a tie A wins."
        ),
    )
    preview_variant = forms.ChoiceField(
        label=_("The preview shows"),
        choices=[("a", _("Variant A")), ("b", _("Variant B"))],
        initial="a",
        required=False,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="ab", **kwargs)
        for name in ("kind", "sample_percent", "wait_hours"):
            self.fields[name].required = False  # needed only when the test is switched on (clean)

    def clean(self):
        cleaned = super().clean()
        for name in ("kind", "sample_percent", "wait_hours"):
            if cleaned.get(name) in (None, "") and name not in self.errors:
                if cleaned.get("enabled"):
                    self.add_error(name, self.fields[name].error_messages["required"])
                else:
                    cleaned[name] = self.fields[name].initial
        return cleaned


class VariantBForm(forms.Form):
    """Variant B of one language's version (prefix ``ab-<language>``); only the kind's fields count."""

    subject = forms.CharField(label=_("Subject B"), max_length=255, required=False)
    preheader = forms.CharField(
        label=_("Preheader B"),
        max_length=255,
        required=False,
        help_text=_("Empty: the preheader of A."),
    )
    mjml_body = forms.CharField(
        label=_("Body B (MJML)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
    )
    text_body = forms.CharField(
        label=_("Plain-text part B"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Empty: generated from the HTML of B."),
    )

    def __init__(self, *args, language: str, **kwargs):
        self.language = language
        super().__init__(*args, prefix=f"ab-{language}", **kwargs)

    @property
    def language_name(self) -> str:
        return language_name(self.language)

    def content(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name in abtest.VARIANT_FIELDS}

    def has_content(self) -> bool:
        return any(value.strip() for value in self.content().values())


def ab_test_forms(data, campaign: Campaign | None) -> tuple[ABTestForm, list[VariantBForm]]:
    """The A/B section's settings and a variant B form per language of settings.LANGUAGES."""
    test = ABTest.objects.filter(campaign=campaign).first() if campaign and campaign.pk else None
    initial = {}
    existing = {}
    if test is not None:
        initial = {
            "enabled": test.enabled,
            "kind": test.kind,
            "sample_percent": test.sample_percent,
            "wait_hours": test.wait_hours,
        }
        existing = {v.language: v for v in test.variants.all()}
    variants = [
        VariantBForm(
            data,
            language=code,
            initial={name: getattr(existing[code], name) for name in abtest.VARIANT_FIELDS}
            if code in existing
            else {},
        )
        for code in languages()
    ]
    return ABTestForm(data, initial=initial), variants


def check_ab_forms(ab_form: ABTestForm, variants: list[VariantBForm], versions: dict[str, Content]) -> bool:
    """Variant B checked like A, for every version the campaign will have (``versions``, valid
    already): the kind's field filled in, renderable; errors go to the B fields. True if it can be
    saved (a test switched off is saved as it is)."""
    if not ab_form.is_valid() or not all(v.is_valid() for v in variants):
        return False
    if not ab_form.cleaned_data["enabled"]:
        return True
    kind = ab_form.cleaned_data["kind"]
    required = abtest.REQUIRED_FIELD[kind]
    by_language = {v.language: v for v in variants}
    for language, content in versions.items():
        form = by_language[language]
        if not form.cleaned_data[required].strip():
            form.add_error(
                required,
                _("Write variant B of the %(language)s version, or switch the A/B test off.")
                % {"language": language_name(language)},
            )
            continue
        test = ABTest(kind=kind)
        row = VariantB(language=language, **form.content())
        content_b = abtest.variant_content(test, content, variants={language: row})
        _add_render_errors(form, content_b.fields(), fields=abtest.KIND_FIELDS[kind])
    return all(not v.errors for v in variants)
