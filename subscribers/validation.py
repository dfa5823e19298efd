"""Input checks shared by the signup form, the JSON API and the CSV import."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from email_validator import EmailNotValidError, validate_email

from subscribers.models import normalise_email

MAX_EMAIL_LENGTH = 320


def clean_email(raw: object) -> str:
    """A syntactically valid, normalised address, or a ValidationError that says what is wrong.

    Deliverability (DNS) is not checked: no network on the request path, and the
    confirmation mail is the real test.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(_("Please enter an email address."), code="required")
    if len(raw.strip()) > MAX_EMAIL_LENGTH:
        raise ValidationError(_("This email address is too long."), code="too_long")
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(
            _("This is not a valid email address: %(reason)s"), params={"reason": str(exc)}, code="invalid"
        ) from exc
    return normalise_email(result.normalized)


MAX_NAME_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean_name(raw: object) -> str:
    """An optional name, stripped; too long or with control characters is refused, never cut.

    The same rule for the signup form, the preference centre, the JSON API and the import.
    """
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ValidationError(_("The name must be text."), code="wrong_type")
    name = raw.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            _("The name may have at most %(limit)d characters; this one has %(length)d. Please shorten it."),
            params={"limit": MAX_NAME_LENGTH, "length": len(name)},
            code="too_long",
        )
    if _CONTROL.search(name):
        raise ValidationError(
            _("The name must not contain line breaks or other control characters."), code="control_characters"
        )
    return name
