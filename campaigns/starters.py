"""Starter layouts: a new campaign starts from one of these (or a saved template), never empty.

Each is an MJML file per language in templates/emails/ (campaign_starter_<slug>.<lang>.mjml);
the marketer's language picks the file, English when there is none in theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

STARTER_DIR = Path(settings.BASE_DIR) / "templates" / "emails"


@dataclass(frozen=True)
class Starter:
    slug: str
    name: Promise
    description: Promise

    def mjml(self, language: str | None = None) -> str:
        for lang in (language or get_language() or settings.LANGUAGE_CODE, "en"):
            path = STARTER_DIR / f"campaign_starter_{self.slug}.{lang[:2]}.mjml"
            if path.exists():
                return path.read_text(encoding="utf-8")
        raise FileNotFoundError(f"starter layout {self.slug} has no MJML file")


STARTERS = (
    Starter("letter", _("Personal letter"), _("One column of text, like a letter from a person.")),
    Starter("newsletter", _("Newsletter"), _("A coloured header, stories with a button, dividers.")),
    Starter("two_columns", _("Two columns"), _("An introduction, then two pieces side by side.")),
)


def starter(slug: str) -> Starter | None:
    return next((s for s in STARTERS if s.slug == slug), None)
