"""Every page (tests/journeys/pages.py) in German and English, at desktop and phone width.

One live system, one Chromium, one context per run and account. Each page fails the check on:
sideways scroll, an axe-core violation of impact serious or critical (axe is vendored in
static/vendor/axe/), duplicate ids, and, in German, interface text left in English (a msgid of
our catalogue shown untranslated, or English function words outside names and content).
Screenshots: test-artifacts/journeys/pages/<lang>-<device>-<page>.png. All findings of all pages
are reported together. Keyboard-only use and the show-original links are checked below it.
"""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import expect

from tests.journeys.harness import ARTIFACTS, ROOT, login
from tests.journeys.pages import PAGES, SAME_IN_GERMAN, Page

pytestmark = pytest.mark.browser

AXE = ROOT / "static" / "vendor" / "axe" / "axe.min.js"
SHOTS = ARTIFACTS / "pages"
DEVICES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
RUNS = [f"{lang}-{device}" for lang in ("de", "en") for device in DEVICES]
# English words that are not German words too: one of them outside content means English UI text.
ENGLISH_ONLY = set(
    [
        "the",
        "your",
        "you",
        "and",
        "with",
        "this",
        "that",
        "is",
        "are",
        "of",
        "to",
        "for",
        "from",
        "be",
        "has",
        "have",
        "not",
        "on",
        "at",
        "by",
        "it",
        "or",
        "were",
        "been",
        "what",
        "which",
        "who",
        "here",
        "there",
        "can",
        "our",
        "we",
        "they",
        "their",
        "if",
        "when",
        "how",
        "these",
        "those",
        "should",
        "would",
        "could",
        "please",
    ]
)

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter(v => ["serious", "critical"].includes(v.impact)).map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map(n =>
      n.target.join(" ") + (n.failureSummary ? " | " + n.failureSummary.split("\\n")[1] : "")),
  }));
}"""
DUPLICATE_IDS = """() => {
  const seen = {};
  for (const el of document.querySelectorAll("[id]")) seen[el.id] = (seen[el.id] || 0) + 1;
  return Object.keys(seen).filter(id => seen[id] > 1);
}"""
# Visible interface text: text nodes and the attributes people read, outside content marked
# translate="no" and outside pre/code/textarea (mail bodies, headers, code).
INTERFACE_TEXT = """() => {
  const skip = el => el.closest("script, style, pre, code, textarea, [translate=no]");
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, text = node.textContent.replace(/\\s+/g, " ").trim();
    if (text && !skip(node.parentElement)) texts.push(text);
  }
  const labelled = "[placeholder], [title], [aria-label], [alt], input[type=submit]";
  for (const el of document.querySelectorAll(labelled)) {
    if (skip(el)) continue;
    for (const attr of ["placeholder", "title", "aria-label", "alt", "value"]) {
      const value = (el.getAttribute(attr) || "").trim();
      if (value && (attr !== "value" || el.type === "submit")) texts.push(value);
    }
  }
  texts.push(document.title);
  return texts;
}"""


@cache
def english_msgids() -> tuple[set[str], list[re.Pattern]]:
    """Our catalogue's English texts whose German differs: shown as they are, they are untranslated."""
    with (ROOT / "locale" / "de" / "LC_MESSAGES" / "django.po").open("rb") as po:
        catalogue = read_po(po, locale="de")
    plain, patterns = set(), []
    for message in catalogue:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            if not msgid or msgid in strings or msgid in SAME_IN_GERMAN:
                continue
            text = " ".join(msgid.split())
            if "%(" in text:
                pattern = re.escape(text)
                pattern = re.sub(r"%\\\(\w+\\\)[sd]", ".+", pattern)
                patterns.append(re.compile(f"^{pattern}$"))
            else:
                plain.add(text)
    return plain, patterns


def untranslated(texts: list[str], content: list[str]) -> list[str]:
    plain, patterns = english_msgids()
    found = []
    whole_content = set(content)
    for text in texts:
        if text in whole_content:  # a name someone gave (the topic "events"), even if it is also a msgid
            continue
        if text in plain or any(p.match(text) for p in patterns):
            found.append(text)
            continue
        rest = text
        for item in content:
            rest = rest.replace(item, " ")
        rest = re.sub(r"\S+@\S+|https?://\S+", " ", rest)  # addresses and links are content too
        words = [w for w in re.findall(r"[A-Za-z']+", rest) if w not in SAME_IN_GERMAN]
        if any(w.lower() in ENGLISH_ONLY for w in words) and len(words) >= 2:
            found.append(text)
    return found


@pytest.fixture(scope="module")
def site(live_system) -> dict:
    runs = [*RUNS, "en-keyboard"]  # the keyboard tests' own subscriber
    output = live_system.python(f"from tests.journeys.every_page_data import prepare; prepare({runs!r})")
    data = json.loads(output.strip().splitlines()[-1])
    # Longest first, so "Sara Jones" goes before "Sara"; short words would hide too much.
    data["content"] = sorted((c for c in data["content"] if len(c) >= 3), key=len, reverse=True)
    return data


def _context(browser, live_system, lang: str, device: str):
    context = browser.new_context(
        bypass_csp=True,  # wait_for_function evaluates strings; test_csp_journey.py checks the CSP
        base_url=live_system.url,
        locale={"de": "de-DE", "en": "en-US"}[lang],
        viewport=DEVICES[device],
    )
    context.set_default_timeout(15_000)
    context.add_init_script(path=str(AXE))  # every page and frame, and past any CSP
    return context


def _check(page, spec: Page, data: dict, lang: str, device: str) -> list[str]:
    problems = []
    response = page.goto(spec.address(data))
    if spec.act is None and (response is None or response.status != spec.status):
        problems.append(f"answered {response.status if response else 'nothing'}, expected {spec.status}")
    if spec.act is not None:
        spec.act(page, data)
    page.wait_for_load_state()
    if page.locator("html").get_attribute("lang") != lang:
        problems.append(f"<html lang> is {page.locator('html').get_attribute('lang')!r}")
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    if width[0] > width[1]:
        problems.append(f"scrolls sideways: {width[0]} px wide in a {width[1]} px viewport")
    for violation in page.evaluate(AXE_RUN):
        problems.append(
            f"axe {violation['impact']} {violation['id']}: {violation['help']} -> {violation['nodes']}"
        )
    for duplicate in page.evaluate(DUPLICATE_IDS):
        problems.append(f"duplicate id {duplicate!r}")
    if lang == "de":
        for text in untranslated(page.evaluate(INTERFACE_TEXT), data["content"]):
            problems.append(f"English in the German page: {text!r}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{lang}-{device}-{spec.name}.png"), full_page=True)
    return problems


@pytest.mark.parametrize("run", RUNS)
def test_every_page_fits_is_accessible_and_translated(browser, live_system, site, run):
    lang, device = run.split("-")
    data = {**site, "run": site["runs"][run]}
    findings: dict[str, list[str]] = {}
    user: str | None = "(none yet)"
    context = page = None
    try:
        for spec in PAGES:
            if spec.user != user:
                if context is not None:
                    context.close()
                context = _context(browser, live_system, lang, device)
                page = context.new_page()
                if spec.user:
                    login(page, spec.user)
                user = spec.user
            try:
                problems = _check(page, spec, data, lang, device)
            except Exception as error:  # noqa: BLE001 - one broken page must not hide the others
                problems = [f"could not be checked: {type(error).__name__}: {error}"]
            if problems:
                findings[f"{spec.name} ({spec.address(data)})"] = problems
    finally:
        if context is not None:
            context.close()
    report = "\n".join(f"{name}:\n  " + "\n  ".join(problems) for name, problems in findings.items())
    assert not findings, f"{len(findings)} of {len(PAGES)} pages failed the check in {run}:\n{report}"


# --- Keyboard only -----------------------------------------------------------------------

FOCUSABLE = """() => [...document.querySelectorAll(
    "a[href], button, input, select, textarea, summary, iframe, [tabindex]")].filter(el =>
  !el.disabled && el.tabIndex >= 0 && el.type !== "hidden"
  && el.checkVisibility({checkVisibilityCSS: true}) && !el.closest("[aria-hidden=true]")
  && !(el.type === "radio" && !el.checked
       && document.querySelector(`input[type=radio][name="${el.name}"]:checked`))
).map((el, i) => { el.dataset.kbd = String(i); return i; })"""
ACTIVE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
  const text = (el.innerText || el.name || "").trim().slice(0, 40);
  return {kbd: el.dataset.kbd ?? null, tag: el.tagName, text, ring};
}"""


def _tab_to(page, selector: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab on {page.url}")


def _every_control_reachable_with_a_visible_focus(page) -> None:
    """Tab through the whole page: each control gets focus once, and shows a focus ring."""
    controls = set(page.evaluate(FOCUSABLE))
    reached, without_ring = set(), []
    page.locator("body").focus()
    for _ in range(len(controls) + 10):
        page.keyboard.press("Tab")
        active = page.evaluate(ACTIVE)
        if active is None:
            continue
        if active["kbd"] is not None:
            reached.add(int(active["kbd"]))
        if not active["ring"] and active["tag"] != "IFRAME":
            without_ring.append(f"{active['tag']} {active['text']!r}")
    missing = page.evaluate(
        "ids => ids.map(i => document.querySelector(`[data-kbd='${i}']`).outerHTML.slice(0, 120))",
        sorted(controls - reached),
    )
    assert not missing, f"not reachable with Tab on {page.url}: {missing}"
    assert not without_ring, f"focus not visible on {page.url}: {sorted(set(without_ring))}"


@pytest.fixture
def keyboard_page(browser, live_system):
    context = browser.new_context(
        bypass_csp=True,  # wait_for_function evaluates strings; test_csp_journey.py checks the CSP
        base_url=live_system.url,
        locale="en-US",
        viewport=DEVICES["desktop"],
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def test_signup_with_the_keyboard_alone(keyboard_page, site):
    page = keyboard_page
    page.goto("/subscribe/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")  # skip the header
    _tab_to(page, "input[name=email]")
    page.keyboard.type("keyboard.only@example.org")
    _tab_to(page, "input[name=name]")
    page.keyboard.type("Kim Keyboard")
    _tab_to(page, "input[name=topics]")  # the first topic
    page.keyboard.press("Space")
    _tab_to(page, "select[name=language]")
    page.keyboard.press("ArrowDown")
    _tab_to(page, "button[type=submit].primary")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Almost done: check your inbox")).to_be_visible()
    _every_control_reachable_with_a_visible_focus(page)


def test_preference_centre_with_the_keyboard_alone(keyboard_page, site):
    page = keyboard_page
    page.goto(site["runs"]["en-keyboard"]["preferences"])
    _every_control_reachable_with_a_visible_focus(page)
    page.locator("body").focus()
    _tab_to(page, "input[name=topics]:checked")
    page.keyboard.press("Space")  # leave one topic
    _tab_to(page, "form button[type=submit].primary")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".message.success")).to_be_visible()


def test_editor_with_the_keyboard_alone(keyboard_page, site):
    page = keyboard_page
    login(page, "marketer")
    page.goto(f"/campaigns/{site['draft_campaign']}/edit/")
    _every_control_reachable_with_a_visible_focus(page)
    page.locator("body").focus()
    _tab_to(page, "input[name=subject]")
    page.keyboard.press("End")
    page.keyboard.type(" (keyboard)")
    _tab_to(page, "form#campaign-form button[type=submit].primary")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("h1")).to_be_visible()
    assert re.search(r"/campaigns/\d+/$", page.url), page.url


def test_inbox_with_the_keyboard_alone(keyboard_page, site):
    page = keyboard_page
    login(page, "anna")
    page.goto("/inbox/?queue=all")
    _every_control_reachable_with_a_visible_focus(page)
    page.locator("body").focus()
    _tab_to(page, f"a[href$='/inbox/conversations/{site['conversation']}/']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    _every_control_reachable_with_a_visible_focus(page)
    page.locator("body").focus()
    _tab_to(page, "textarea[name=text]#id_text")
    page.keyboard.type("Thank you, Maria: yes, flats count too.")
    _tab_to(page, "button[type=submit].primary")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".message.success")).to_be_visible()


# --- The HTML-only reply and its original ----------------------------------------------------


def test_html_only_reply_reads_as_text_and_its_original_opens_links_in_a_new_tab(keyboard_page, site):
    page = keyboard_page
    login(page, "anna")
    page.goto(f"/inbox/conversations/{site['conversation']}/")
    thread = page.locator(".replies-thread")
    expect(thread).to_contain_text("I have a question about the subsidy")
    expect(thread).to_contain_text(
        "I read the conditions (https://example.org/subsidy) and click me and this."
    )
    expect(thread).not_to_contain_text("**")
    expect(thread).not_to_contain_text("javascript")

    page.goto(f"/inbox/messages/{site['html_message']}/original/")
    frame_element = page.locator("iframe.preview")
    expect(frame_element).to_have_attribute("sandbox", "allow-popups allow-popups-to-escape-sandbox")
    frame = page.frame_locator("iframe.preview")
    expect(frame.get_by_role("link")).to_have_count(1)  # javascript: and data: links are dead text
    expect(frame.get_by_text("click me")).to_be_visible()
    page.context.route("https://example.org/**", lambda route: route.fulfill(body="the conditions"))
    with page.context.expect_page() as new_tab:
        frame.get_by_role("link", name="the conditions").click()
    tab = new_tab.value
    tab.wait_for_load_state()
    assert tab.url == "https://example.org/subsidy"
    assert page.url.endswith("/original/")  # the inbox page itself stays where it was
