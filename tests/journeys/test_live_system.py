"""The harness itself: the system `make run` starts answers, with demo data and the mailbox."""

import pytest

from tests.journeys.harness import shot

pytestmark = pytest.mark.browser


def test_started_like_make_run_with_demo_data(live_system, page):
    counts = live_system.python(
        "from django.contrib.auth.models import User; from subscribers.models import Subscriber;"
        "print(User.objects.count(), Subscriber.objects.filter(status='confirmed').count())"
    )
    users, confirmed = map(int, counts.split())
    assert users >= 5 and confirmed >= 5

    page.goto("/dev/mailbox/")
    assert page.locator("h1").inner_text() == "Local mailbox"
    shot(page, "mailbox-empty")
