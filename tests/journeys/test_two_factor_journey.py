"""A manager sets up two-factor login in Chromium and logs in with a code computed from the secret.

Runs against Django's live server in this process (pytest-django), so two-factor login is
enforced for Managers here as in production (the shared live system runs with DEBUG, where
it is not).
"""

from __future__ import annotations

import base64
import os

import pytest
from django.contrib.auth.models import Group, Permission, User
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.journeys.harness import shot

# Playwright's sync API keeps an event loop running in this thread for the whole session (the
# session's Chromium); this test's database set-up and ORM calls are ordinary synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a-long-manager-password"


def code_for(key_text: str, *, drift: int = 0) -> str:
    key = key_text.replace(" ", "")
    totp = TOTP(base64.b32decode(key + "=" * (-len(key) % 8)))
    totp.drift = drift
    return f"{totp.token():06d}"


@pytest.fixture
def manager(settings):
    settings.TWO_FACTOR_REQUIRED_GROUPS = ["Managers", "Staff"]
    group, _ = Group.objects.get_or_create(name="Managers")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="replies"))
    user = User.objects.create_user("clara", password=PASSWORD, first_name="Clara", last_name="Vogel")
    user.groups.add(group)
    return user


def test_a_manager_enrols_and_logs_in_with_a_totp_code(browser, live_server, manager):
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/accounts/login/?next=/inbox/")
    page.fill("input[name=username]", "clara")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")

    # Required for Managers: the set-up comes first, with a QR code drawn by the server.
    page.wait_for_url("**/accounts/two-factor/set-up/**")
    assert page.locator("svg.qr-code").is_visible()
    key = page.locator("[data-testid=otp-key]").inner_text()
    shot(page, "two-factor-01-set-up")
    page.goto("/inbox/")  # nothing else is reachable yet
    page.wait_for_url("**/accounts/two-factor/set-up/**")
    page.fill("input[name=code]", code_for(key))
    page.click("form[action$='set-up/'] button[type=submit]")

    codes = page.locator("[data-testid=recovery-codes] code")
    codes.first.wait_for()
    assert codes.count() == 10
    shot(page, "two-factor-02-recovery-codes")
    page.click("text=I have saved them, continue")
    page.wait_for_url("**/inbox/")
    page.click("button:has-text('Log out')")
    context.close()

    # Next time, on a phone and in German: the password, then the code of the next time step
    # (the set-up's code cannot be used twice).
    phone = browser.new_context(
        base_url=live_server.url, locale="de-DE", viewport={"width": 390, "height": 844}
    )
    phone.set_default_timeout(15_000)
    page = phone.new_page()
    page.goto("/accounts/login/?next=/inbox/")
    page.fill("input[name=username]", "clara")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/accounts/two-factor/code/**")
    assert "Zwei-Faktor-Anmeldung" in page.locator("h1").inner_text()
    page.fill("input[name=code]", "000000")
    page.click("form[action$='code/'] button[type=submit]")
    assert "Dieser Code stimmt nicht" in page.locator(".error").inner_text()
    shot(page, "two-factor-03-code-de-phone")
    TOTPDevice.objects.update(throttling_failure_count=0)  # as if the one-second wait were over
    page.fill("input[name=code]", code_for(key, drift=1))
    page.click("form[action$='code/'] button[type=submit]")
    page.wait_for_url("**/inbox/")
    assert page.locator("header").get_by_text("Zwei-Faktor-Anmeldung").is_visible()
    phone.close()
