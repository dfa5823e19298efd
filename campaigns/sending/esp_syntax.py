"""Which anymail ESPs take one API call for many personalised mails, and with which syntax.

An ESP qualifies only if its anymail backend (checked in anymail 15.2's
``anymail/backends/<esp>.py``) puts ``merge_data`` into inline merge fields of a body we
send (no stored template) AND sends ``merge_headers`` per recipient, including Reply-To
(the reply token) and List-Unsubscribe (RFC 8058 wants it per recipient). Every other ESP
keeps the per-message path, with the reason recorded below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class BatchSyntax:
    esp: str
    field: str  # the inline merge field, "{}" standing for the key
    max_recipients: int  # per API call
    limit_source: str
    # Text the ESP would read as its own syntax: if it shows up anywhere else in a mail,
    # that mail (or, in static text, the campaign) is sent on its own instead.
    reserved: tuple[str, ...]
    esp_extra: dict = field(default_factory=dict)
    # The ESP's per-message headers replace its global ones: repeat the global ones per recipient.
    repeat_global_headers: bool = False

    def marker(self, key: str) -> str:
        return self.field.format(key)


BATCH_ESPS: dict[str, BatchSyntax] = {
    "mailgun": BatchSyntax(
        esp="mailgun",
        # mailgun.py: merge_data -> recipient-variables, referenced as %recipient.KEY% in the
        # body; merge_headers -> "h:Field" recipient variables (any header, Reply-To included).
        field="%recipient.{}%",
        max_recipients=1000,
        limit_source="Mailgun batch sending: at most 1,000 recipients per API call",
        reserved=(
            "%recipient",
            "%unsubscribe_url%",
            "%tag_unsubscribe_url%",
            "%mailing_list_unsubscribe_url%",
        ),
    ),
    "mailjet": BatchSyntax(
        esp="mailjet",
        # mailjet.py: merge_data -> Messages[].Variables, used on the fly as [[var:KEY]]
        # (anymail's Mailjet docs; TemplateLanguage is only switched on with a template_id,
        # which we never send); merge_headers -> Messages[].Headers.
        field="[[var:{}]]",
        max_recipients=50,
        limit_source="Mailjet Send API v3.1: at most 50 messages per call",
        reserved=("[[", "]]"),
        # Message-level Headers may replace the Globals ones: give each message all of them.
        repeat_global_headers=True,
    ),
}

# Per-message, and why (anymail 15.2 backends unless said otherwise).
PER_MESSAGE_ESPS: dict[str, str] = {
    "mandrill": "no merge_headers (List-Unsubscribe and Reply-To must be per recipient)",
    "sendgrid": "Reply-To is a reserved header in SendGrid personalizations; per-recipient reply tokens "
    "cannot be set in a batch",
    "sparkpost": "content.headers cannot carry Reply-To (SparkPost API); the reply token would be lost",
    "unisender_go": "merge_headers only for List-Unsubscribe (unisender_go.py), not Reply-To",
    "postmark": "merge_data without template_id is refused (postmark.py)",
    "amazon_ses": "merge_data and merge_headers only with a stored template",
    "brevo": "messageVersions params are documented for stored templates; inline use in our htmlContent "
    "is unverified, and brevo.py refuses non-ASCII merge_headers values",
    "resend": "no merge_data",
    "postal": "no merge_data",
    "mailersend": "batch send exposes the To list or returns no message ids; no merge_headers",
    "mailtrap": "merge_data becomes template_variables, which only stored templates use",
    "scaleway": "no merge_data",
}


def batch_syntax(esp: str | None = None) -> BatchSyntax | None:
    """The configured ESP's batch syntax, or None when it sends per message."""
    name = (settings.ANYMAIL_ESP if esp is None else esp).lower()
    return BATCH_ESPS.get(name)
