"""Every page works under the Content Security Policy (issue #10): no violation anywhere.

The live system (as `make run` starts it) sends the site's policy on every page. Chromium visits
the signup page, the preference centre, the campaign list, editor (with its live preview frame),
progress page, the staff inbox with a conversation and its "show original" frame, the local
mailbox with an HTML mail, and the admin; every `securitypolicyviolation` event and every CSP
message on the console (frames included) fails the test.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.journeys.harness import login

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} `
    + `at ${event.sourceFile || location.pathname}:${event.lineNumber}`);
});
"""

# The live system is shared by all journeys: what this test makes lives in a topic of its own
# (not public), tasks run in the shell (notifications land now, not in a later journey), and
# CLEANUP removes all of it, so the other journeys' counts stay as they expect.
SETUP = """
import json
from rundbrief.celery import app
app.conf.task_always_eager = True
from django.contrib.auth.models import User
from campaigns.models import Campaign
from replies.models import Message
from replies.services import store_inbound
from replies.services import drain_inbound
from replies.models import InboundMessage
from django.core.mail import EmailMultiAlternatives
from subscribers.models import Subscriber, Subscription, Topic, email_hash
from subscribers.tokens import preferences_url
from rundbrief.mailbox.models import CapturedMail
mails_before = CapturedMail.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

topic = Topic.objects.create(slug="csp-check", name="CSP check", is_public=False)
address = "csp.reader@example.org"
subscriber, _ = Subscriber.objects.get_or_create(
    email_hash=email_hash(address), defaults={"email": address, "status": "confirmed", "name": "Cleo"}
)
Subscription.objects.get_or_create(subscriber=subscriber, topic=topic, defaults={"status": "active"})
marketer = User.objects.get(username="marketer")
sent = Campaign.objects.create(
    name="CSP progress", subject="Sent", mjml_body="<mj-section></mj-section>", status="sending",
    contact=User.objects.get(username="anna"), created_by=marketer,
)
sent.topics.set([topic])
raw = (
    "From: Cleo <csp.reader@example.org>\\r\\nTo: newsletter@localhost\\r\\nSubject: Styled reply\\r\\n"
    "Message-ID: <csp-reply@example.org>\\r\\nMIME-Version: 1.0\\r\\n"
    "Content-Type: multipart/alternative; boundary=b\\r\\n\\r\\n--b\\r\\nContent-Type: text/plain\\r\\n\\r\\n"
    "Hello in plain text\\r\\n--b\\r\\nContent-Type: text/html\\r\\n\\r\\n"
    "<html><head><style>p {color: #2a6}</style></head><body><p style='font-size:18px'>Hello "
    "<b>styled</b></p></body></html>\\r\\n--b--\\r\\n"
).encode()
inbound = store_inbound(raw, source=InboundMessage.Source.PIPE)
drain_inbound()
message = Message.objects.get(inbound_id=inbound.pk)
mail = EmailMultiAlternatives("Styled newsletter", "Plain", "newsletter@localhost", [address])
mail.attach_alternative(
    "<html><head><style>.x {color: red}</style></head><body><p class='x' style='margin:4px'>Hi</p>"
    "<img src='data:image/gif;base64,R0lGODlhAQABAAAAACw=' alt=''></body></html>", "text/html"
)
mail.send()
print(json.dumps({
    "mails_before": mails_before,
    "preferences": preferences_url(subscriber.pk),
    "campaign": sent.pk,
    "conversation": message.conversation_id,
    "message": message.pk,
    "mail": CapturedMail.objects.order_by("-pk").first().pk,
}))
"""

CLEANUP = """
from campaigns.models import Campaign
from replies.models import Conversation, InboundMessage
from rundbrief.mailbox.models import CapturedMail
from subscribers.models import ConsentEvent, Subscriber, Suppression, Topic, email_hash
Conversation.objects.filter(pk={conversation}).delete()
InboundMessage.objects.filter(message_id="<csp-reply@example.org>").delete()
Campaign.objects.filter(pk={campaign}).delete()
address_hash = email_hash("csp.reader@example.org")
ConsentEvent.objects.filter(subscriber__email_hash=address_hash).delete()
Subscriber.objects.filter(email_hash=address_hash).delete()
Suppression.objects.filter(email_hash=address_hash).delete()
Topic.objects.filter(slug="csp-check").delete()
CapturedMail.objects.filter(pk__gt={mails_before}).delete()
"""


def test_every_page_works_under_the_content_security_policy(browser, live_system):
    made = json.loads(live_system.python(SETUP).splitlines()[-1])
    context = browser.new_context(
        base_url=live_system.url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    context.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            console.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    seen: dict[str, list[str]] = {}

    def visit(path: str, ready=None) -> None:
        response = page.goto(path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        assert "default-src 'self'" in response.headers.get("content-security-policy", ""), path
        if ready:
            ready()
        page.wait_for_load_state("networkidle")
        found = page.evaluate("window.__cspViolations")
        assert isinstance(found, list), f"{path}: the violation recorder did not run"
        seen[path] = found

    try:
        visit("/subscribe/")
        visit(made["preferences"].removeprefix(live_system.url))
        visit("/accounts/login/")
        visit("/dev/mailbox/")
        visit(
            f"/dev/mailbox/{made['mail']}/",
            lambda: expect(page.frame_locator("iframe.preview").locator("p.x")).to_have_css(
                "color", "rgb(255, 0, 0)"
            ),
        )

        login(page, "marketer")
        visit("/campaigns/")
        visit(
            "/campaigns/new/",
            lambda: expect(page.frame_locator("#preview-html").locator("body")).to_contain_text("answer you"),
        )
        visit(f"/campaigns/{made['campaign']}/", lambda: page.wait_for_timeout(2000))  # progress.js polls

        login(page, "anna")
        visit("/inbox/")
        visit(f"/inbox/conversations/{made['conversation']}/")
        visit(
            f"/inbox/messages/{made['message']}/original/",
            # Sanitised: its styles are gone, the markup stays.
            lambda: expect(page.frame_locator("iframe.preview").locator("b")).to_have_text("styled"),
        )

        login(page, "admin")
        for path in (
            "/admin/",
            "/admin/campaigns/campaign/",
            "/admin/campaigns/campaign/add/",
            "/admin/auth/user/1/change/",
            "/admin/campaigns/ignoredtrackingevent/",
        ):
            visit(path)
    finally:
        context.close()
        live_system.python(CLEANUP.format(**made))
    violations = {path: found for path, found in seen.items() if found}
    assert not violations, violations
    assert not console, console
    assert not errors, errors
