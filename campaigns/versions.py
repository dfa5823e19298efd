"""A campaign's versions per language: which exist, which one a subscriber gets, and their checks.

The campaign's own fields are its version in ``Campaign.default_language``; each other language
of settings.LANGUAGES may have a CampaignVersion row. A subscriber gets the version in their
language, else the default one. Every version is checked as a single-language campaign is
(unknown variables, MJML and template errors, the footer guard); a problem names its version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.conf import settings
from django.utils.translation import get_language_info
from django.utils.translation import gettext as _

from campaigns.models import Campaign, CampaignVersion
from campaigns.rendering import CampaignRenderError, RenderProblem, compile_campaign
from campaigns.variables import unknown_variables


@dataclass(frozen=True)
class Content:
    """One version's content."""

    language: str
    subject: str
    preheader: str
    mjml_body: str
    text_body: str

    def fields(self) -> dict[str, str]:
        data = asdict(self)
        del data["language"]
        return data


def languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def language_name(code: str) -> str:
    """The language's name in the active language ("German" / "Deutsch"), from Django's catalogue."""
    try:
        return get_language_info(code)["name_translated"]
    except KeyError:
        return code


def is_language(code: str) -> bool:
    return code in languages()


def default_content(campaign: Campaign) -> Content:
    return Content(
        language=campaign.default_language,
        subject=campaign.subject,
        preheader=campaign.preheader,
        mjml_body=campaign.mjml_body,
        text_body=campaign.text_body,
    )


def version_content(version: CampaignVersion) -> Content:
    return Content(
        language=version.language,
        subject=version.subject,
        preheader=version.preheader,
        mjml_body=version.mjml_body,
        text_body=version.text_body,
    )


def contents(campaign: Campaign) -> dict[str, Content]:
    """Every version that exists, the default first, then in the order of settings.LANGUAGES."""
    found = {campaign.default_language: default_content(campaign)}
    if campaign.pk:
        others = {
            v.language: version_content(v)
            for v in campaign.versions.all()
            if v.language != campaign.default_language
        }
        found |= {code: others[code] for code in languages() if code in others}
    return found


def content_for(campaign: Campaign, language: str, *, versions: dict[str, Content] | None = None) -> Content:
    """The version a subscriber in ``language`` gets: theirs, else the default one."""
    versions = versions if versions is not None else contents(campaign)
    return versions.get(language) or versions[campaign.default_language]


def served_by(campaign: Campaign, *, versions: dict[str, Content] | None = None) -> dict[str, str]:
    """For each language of settings.LANGUAGES, the language of the version its subscribers get."""
    versions = versions if versions is not None else contents(campaign)
    return {code: content_for(campaign, code, versions=versions).language for code in languages()}


class VersionRenderError(CampaignRenderError):
    """One version cannot be rendered; says which."""

    def __init__(self, language: str, problems: list[RenderProblem]):
        self.language = language
        super().__init__(problems)


def version_label(language: str) -> str:
    """ "The German version", to start a sentence that names the version."""
    return _("The %(language)s version") % {"language": language_name(language)}


def problems_of(content: Content) -> tuple[list[str], CampaignRenderError | None]:
    """A version's unknown variables (messages) and render error (or None)."""
    unknown = [p.message for p in unknown_variables(**content.fields())]
    try:
        compile_campaign(**content.fields())
    except CampaignRenderError as exc:
        return unknown, exc
    return unknown, None
