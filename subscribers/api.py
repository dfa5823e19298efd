"""JSON API for signup forms on other sites (CORS origins: settings.CORS_ALLOWED_ORIGINS).

`POST /api/subscribe` starts the double opt-in; `GET /api/consent-text` gives the wording to show.

Body: JSON `{"email": str, "topics": [slug, ...], "name"?: str, "language"?: "de"|"en",
"consent_version"?: str, "attributes"?: {key: value}}` (only the fields marked public in the
audience desk; stored for a new subscriber only). Answers 202 whether or not the address is known (no
enumeration); 400 with `{"error", "message", "fields"}` for anything malformed.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from subscribers import attributes, selectors, services
from subscribers.models import Attribute, ConsentEvent
from subscribers.ratelimits import limit_subscribe_requests
from subscribers.validation import clean_email, clean_name
from subscribers.views.common import client_info

FIELDS = {"email", "name", "topics", "language", "consent_version", "attributes"}
MAX_BODY_BYTES = 16 * 1024


def error(code: str, message: str, fields: dict | None = None, status: int = 400) -> JsonResponse:
    body: dict = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return JsonResponse(body, status=status)


def field_error(code: str, message: str) -> dict:
    return {"code": code, "message": str(message)}


@csrf_exempt  # called cross-site by design; no cookies are involved
@require_POST
@limit_subscribe_requests
def subscribe(request: HttpRequest) -> JsonResponse:
    languages = [code for code, _name in settings.LANGUAGES]
    if len(request.body) > MAX_BODY_BYTES:
        return error("too_large", _("The request body is too large."), status=413)
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return error("malformed_json", _("The request body is not valid JSON."))
    if not isinstance(data, dict):
        return error("invalid_request", _("The request body must be a JSON object."))

    fields: dict[str, dict] = {}
    unknown_keys = sorted(set(data) - FIELDS)
    if unknown_keys:
        fields["_"] = field_error(
            "unknown_fields", _("Unknown fields: %(names)s") % {"names": ", ".join(unknown_keys)}
        )

    email = data.get("email")
    try:
        email = clean_email(email)
    except ValidationError as exc:
        if email is not None and not isinstance(email, str):
            fields["email"] = field_error("wrong_type", _("“email” must be a string."))
        else:
            code = "required" if exc.error_list[0].code == "required" else "invalid_email"
            fields["email"] = field_error(code, exc.messages[0])

    name = data.get("name", "")
    if name is None:
        name = ""
    if not isinstance(name, str):
        fields["name"] = field_error("wrong_type", _("“name” must be a string."))
    else:
        try:
            name = clean_name(name)
        except ValidationError as exc:
            fields["name"] = field_error(exc.error_list[0].code, exc.messages[0])

    language = data.get("language")
    if language is not None and language not in languages:
        fields["language"] = field_error(
            "invalid_language", _("“language” must be one of: %(codes)s") % {"codes": ", ".join(languages)}
        )

    given = data.get("attributes") or {}
    values: dict = {}
    if not isinstance(given, dict):
        fields["attributes"] = field_error(
            "wrong_type", _("“attributes” must be an object of field keys and values.")
        )
    else:
        public = {attribute.key: attribute for attribute in Attribute.objects.filter(is_public=True)}
        unknown_fields = sorted(set(given) - set(public))
        if unknown_fields:
            fields["attributes"] = field_error(
                "unknown_attributes",
                _("Unknown or not public fields: %(keys)s") % {"keys": ", ".join(unknown_fields)},
            )
        for key in set(given) & set(public):
            try:
                value = attributes.clean_value(public[key], given[key])
            except ValidationError as exc:
                fields[f"attributes.{key}"] = field_error("invalid_attribute", exc.messages[0])
            else:
                if value is not None:
                    values[key] = value

    topics: list = []
    slugs = data.get("topics")
    if not isinstance(slugs, list) or not all(isinstance(slug, str) for slug in slugs):
        fields["topics"] = field_error("wrong_type", _("“topics” must be a list of topic slugs (strings)."))
    elif not slugs:
        fields["topics"] = field_error("required", _("Please choose at least one topic."))
    else:
        topics, unknown = selectors.public_topics_by_slug(slugs)
        if unknown:
            fields["topics"] = field_error(
                "unknown_topics", _("Unknown topics: %(slugs)s") % {"slugs": ", ".join(unknown)}
            )

    consent_language = language if language in languages else translation.get_language()[:2]
    version = data.get("consent_version")
    consent = None
    if version is None:
        try:
            consent = selectors.current_consent_text(consent_language)
        except selectors.NoConsentText:
            return error("unavailable", _("Signup is closed: no consent text is published."), status=503)
    elif not isinstance(version, str):
        fields["consent_version"] = field_error("wrong_type", _("“consent_version” must be a string."))
    else:
        consent = selectors.consent_text(version=version, language=consent_language)
        if consent is None:
            fields["consent_version"] = field_error(
                "unknown_consent_version", _("No consent text with this version exists in this language.")
            )

    if fields:
        return error("invalid", _("The request has errors; see “fields”."), fields)

    # Known or not, the same small step here; a worker does the rest (same time for all).
    services.submit_subscription_request(
        email=email,
        topics=topics,
        name=name,
        language=language,
        source=ConsentEvent.Source.API,
        consent=consent,
        attributes=values,
        **client_info(request),
    )
    return JsonResponse(
        {
            "status": "accepted",
            "message": _("If the address can receive mail, a confirmation link is on its way."),
        },
        status=202,
    )


@require_GET
def consent_text(request: HttpRequest) -> JsonResponse:
    """`GET /api/consent-text?language=de`: the wording an embedding form must show, and its version.

    Send the version back as `consent_version`, and the proof records exactly that text.
    """
    languages = [code for code, _name in settings.LANGUAGES]
    language = request.GET.get("language") or translation.get_language()[:2]
    if language not in languages:
        return error(
            "invalid_language", _("“language” must be one of: %(codes)s") % {"codes": ", ".join(languages)}
        )
    try:
        text = selectors.current_consent_text(language)
    except selectors.NoConsentText:
        return error("unavailable", _("Signup is closed: no consent text is published."), status=503)
    return JsonResponse({"version": text.version, "language": text.language, "text": text.text})
