"""The real-world bounce corpus (tests/replies/corpus/bounces/) through the whole decision loop.

Every message is stored and processed as inbound mail is, after making a subscriber we have
mailed (a campaign delivery) of *every* address-like string in it (the failed recipients, but
also the list and sender addresses, the addresses in the prose, the quoted headers, the
Message-IDs that look like
addresses ...), so any address taken from the wrong place would be suppressed. The test fails
on any suppression of an address that did not bounce for good, and below the issue's bars;
it prints the figures (``pytest -s``; bench/corpus_report.py prints the same without a database).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from email_validator import EmailNotValidError, validate_email

from campaigns.models import Campaign, Delivery
from replies.models import InboundMessage
from rundbrief.mail.addresses import new_token
from subscribers.models import Bounce, Subscriber, Suppression, email_hash
from tests.replies.conftest import ingest

CORPUS = Path(__file__).parent / "corpus" / "bounces"
_ANY_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def as_delivered(raw: bytes) -> bytes:
    """Without the mbox "From " separator (or the blank lines) some files start with: no MTA hands
    those over."""
    raw = raw.lstrip()
    first, _, rest = raw.partition(b"\n")
    return rest if first.startswith(b"From ") and b":" not in first.split(b" ", 2)[1] else raw


def corpus() -> list[tuple[str, bytes, dict]]:
    found = []
    for expected_file in sorted(CORPUS.glob("*/expected.json")):
        for name, want in json.loads(expected_file.read_text()).items():
            raw = as_delivered((expected_file.parent / name).read_bytes())
            found.append((f"{expected_file.parent.name}/{name}", raw, want))
    return found


def tempting_addresses(raw: bytes, want: dict) -> set[str]:
    found = set(want["addresses"])
    for candidate in _ANY_ADDRESS.findall(raw.decode("utf-8", "replace")):
        candidate = candidate.lower().strip(".")
        try:
            found.add(validate_email(candidate, check_deliverability=False).normalized.lower())
        except EmailNotValidError:
            continue
    return found


@pytest.mark.django_db
def test_corpus_figures_and_no_false_suppression(capsys):
    figures = {"bounces": 0, "recognised": 0, "exact": 0, "perm_total": 0, "perm_right": 0, "others": 0}
    figures["others_right"] = 0
    false_suppressions, problems = [], []
    messages = corpus()
    assert len(messages) >= 150
    campaign = Campaign.objects.create(name="Corpus", subject="Corpus", mjml_body="<mjml></mjml>")
    for where, raw, want in messages:
        addresses = tempting_addresses(raw, want)
        subscribers = Subscriber.objects.bulk_create(
            [Subscriber(email=a, email_hash=email_hash(a), status="confirmed") for a in addresses]
        )
        Delivery.objects.bulk_create(
            [
                Delivery(
                    campaign=campaign,
                    subscriber=s,
                    status="sent",
                    reply_token=new_token(),
                    message_id=f"<{new_token()}@rundbrief.localhost>",
                )
                for s in subscribers
            ]
        )
        inbound = ingest(raw)
        bounces = list(Bounce.objects.filter(inbound_message_id=inbound.pk))
        suppressed = set(Suppression.objects.values_list("email_hash", flat=True))
        allowed = {email_hash(a) for a in want["addresses"]} if want.get("permanent") else set()
        wrongly = sorted(a for a in addresses if email_hash(a) in suppressed - allowed)
        if wrongly:
            false_suppressions.append(f"{where}: {wrongly}")
        named = {b.address for b in bounces if b.address}
        if want["kind"] in ("bounce", "complaint"):
            figures["bounces"] += 1
            right_kind = inbound.kind == want["kind"]
            figures["recognised"] += right_kind
            figures["exact"] += right_kind and named == set(want["addresses"])
            if want["kind"] == "bounce" and want.get("permanent") is not None:
                figures["perm_total"] += 1
                figures["perm_right"] += right_kind and any(b.permanent for b in bounces) == want["permanent"]
            if not right_kind or named != set(want["addresses"]):
                problems.append(f"{where}: {inbound.kind} {sorted(named)}")
        else:
            figures["others"] += 1
            figures["others_right"] += inbound.kind == want["kind"] or (
                want["kind"] == "human"
                and inbound.kind in (InboundMessage.Kind.HUMAN, InboundMessage.Kind.UNSUBSCRIBE)
            )
            assert not bounces or inbound.kind == InboundMessage.Kind.BOUNCE
        Suppression.objects.all().delete()
        Bounce.objects.all().delete()
        Delivery.objects.all().delete()
        Subscriber.objects.all().delete()

    def share(part: str, whole: str) -> float:
        return 100 * figures[part] / figures[whole]

    with capsys.disabled():
        print(
            f"\nbounce corpus: {len(messages)} messages, {figures['bounces']} bounces/complaints; "
            f"recognised {share('recognised', 'bounces'):.1f} %, "
            f"exact address {share('exact', 'bounces'):.1f} %, "
            f"temporary/permanent {share('perm_right', 'perm_total'):.1f} %, other mail left alone "
            f"{figures['others_right']}/{figures['others']}, false suppressions {len(false_suppressions)}"
        )
    assert not false_suppressions, false_suppressions
    assert share("recognised", "bounces") >= 98, problems
    assert share("exact", "bounces") >= 95, problems
    assert share("perm_right", "perm_total") >= 97, problems
