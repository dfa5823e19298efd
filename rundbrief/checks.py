"""Deployment checks (``manage.py check --deploy``) for what Django's own checks do not know.

Settings already refuse to start outside DEBUG without SECRET_KEY or WEBHOOK_SECRET; these
checks catch the rest of a production set-up that would work but be unsafe or broken.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.http.request import validate_host

MIN_WEBHOOK_PASSWORD = 16


@register(Tags.security, deploy=True)
def check_webhook_secret(app_configs, **kwargs) -> list:
    secrets = settings.WEBHOOK_SECRETS
    if not secrets:
        return [
            Error(
                "WEBHOOK_SECRET is empty: anyone can post forged bounces and complaints to the ESP "
                "webhooks and suppress any address.",
                hint="Set WEBHOOK_SECRET=user:password and give it to the ESP in the webhook URLs.",
                id="rundbrief.E001",
            )
        ]
    weak = [
        secret.split(":", 1)[0] for secret in secrets if len(secret.split(":", 1)[1]) < MIN_WEBHOOK_PASSWORD
    ]
    if weak:
        return [
            Warning(
                f"The WEBHOOK_SECRET password of {', '.join(weak)} is shorter than {MIN_WEBHOOK_PASSWORD} "
                "characters.",
                hint="Use a long random password, e.g. openssl rand -hex 24.",
                id="rundbrief.W002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_site_url(app_configs, **kwargs) -> list:
    problems = []
    parts = urlsplit(settings.SITE_URL)
    if parts.scheme != "https":
        problems.append(
            Warning(
                "SITE_URL is not https://: the links in every mail (unsubscribe, preferences) travel in "
                "the clear, and cookies are not marked Secure.",
                hint="Serve the site over HTTPS and set SITE_URL=https://...",
                id="rundbrief.W003",
            )
        )
    if parts.hostname and not validate_host(parts.hostname, settings.ALLOWED_HOSTS):
        problems.append(
            Warning(
                f"SITE_URL's host {parts.hostname} is not in ALLOWED_HOSTS: every link in the mails "
                "would be answered 400.",
                hint=f"Add {parts.hostname} to ALLOWED_HOSTS.",
                id="rundbrief.W004",
            )
        )
    return problems
