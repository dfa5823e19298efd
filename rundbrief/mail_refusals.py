"""How a mail server's or an ESP's refusal is read, one rule for campaign sends and staff answers.

Used by campaigns.smtp_transport and campaigns.mailer (campaign mail) and by
replies.services.answers (staff answers), so a refusal is shown and retried the same way.
"""

from __future__ import annotations


def smtp_reason(code: int, message: bytes | str) -> str:
    """An SMTP reply as the server gave it ("550 5.1.1 No such user"), stored and shown as is."""
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


def esp_status_is_permanent(status: int | None) -> bool:
    """An ESP's HTTP 4xx refuses the mail itself; 408, 429, 5xx and no answer are worth a retry."""
    return bool(status) and 400 <= status < 500 and status not in (408, 429)
