"""Fixtures for the browser journeys (see harness.py): one live system per test session,
one Chromium for the session, a fresh browser context (no cookies) per test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.journeys.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveSystem,
    shot,
    start_live_system,
    stop_live_system,
)


def pytest_collection_modifyitems(config, items):
    """Browser journeys run last: unit tests report first, and one live system serves all journeys."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.journey_failed = report.failed  # read by the page fixture's teardown
    return report


@pytest.fixture(scope="session")
def live_system(tmp_path_factory) -> LiveSystem:
    system = start_live_system(tmp_path_factory.mktemp("live-system"))
    yield system
    stop_live_system(system)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/ensure-services does).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(request, browser, live_system):
    context = browser.new_context(
        base_url=live_system.url,
        locale="en-US",
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    if getattr(request.node, "journey_failed", False):
        # What the browser showed (every open tab) and what the system logged, for the report.
        name = re.sub(r"[^\w.-]+", "-", request.node.name)
        for index, open_page in enumerate(context.pages):
            shot(open_page, f"FAILED-{name}-{index}")
        print(f"\n--- last lines of {live_system.log_path} ---\n{live_system.log_tail()}")
    context.close()
