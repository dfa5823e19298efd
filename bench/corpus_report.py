"""Figures of the recognition rules on the real-world bounce corpus (tests/replies/corpus/bounces/).

Runs the decision loop's rules (replies.pipeline.chain.classify) on every message, unmatched
(no delivery, so only what the mail itself says counts), and compares with each folder's
expected.json. Works on the code before the bounce reader too (its rules left a finding with
``failed``/``hard``), so the same command gives the "before" and "after" figures:

    .venv/bin/python bench/corpus_report.py            # this checkout
    .venv/bin/python bench/corpus_report.py --verbose  # every message that is not right

Figures: bounces (and complaints) recognised as such; exactly the expected addresses; temporary
vs permanent right; human and auto-reply mail left alone; and false suppressions: an address
the rules would have suppressed (a permanent failure) that did not bounce for good. The test
suite's tests/replies/test_bounce_corpus.py checks the same corpus through the database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "replies" / "corpus" / "bounces"


def setup() -> None:
    sys.path.insert(0, str(Path.cwd()))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    os.environ.setdefault("DEBUG", "true")
    import django  # here: a plain `--help` needs no Django

    django.setup()


def read_one(raw: bytes) -> tuple[str, set[str], bool | None, set[str]]:
    """(kind, failed addresses, permanent, addresses it would suppress) by this checkout's rules."""
    # Imported here, after setup(): the app modules need Django's settings configured.
    from replies.matching import Match
    from replies.parsing import parse_mail
    from replies.pipeline import chain
    from replies.pipeline.context import Context

    mail = parse_mail(raw)
    ctx = Context(mail=mail, match=Match())
    link, _hits = chain.classify(ctx)
    kind = str(link.kind)
    for finding in ctx.findings:
        if hasattr(finding, "failures"):  # the bounce reader's Report
            addresses = {f.address for f in finding.failures}
            return (
                kind,
                addresses,
                bool(finding.permanent),
                {f.address for f in finding.failures if f.permanent},
            )
        if hasattr(finding, "hard"):  # before: Bounce(failed, delayed, hard)
            failed = set(finding.failed) | set(getattr(finding, "delayed", ()))
            return kind, failed, bool(finding.hard), set(finding.failed) if finding.hard else set()
    return kind, set(), None, set()


def evaluate(corpus: Path = CORPUS, verbose: bool = False) -> dict:
    totals = {
        "messages": 0,
        "bounces": 0,
        "recognised": 0,
        "exact": 0,
        "temp_perm_right": 0,
        "temp_perm_total": 0,
        "others": 0,
        "others_right": 0,
        "false_suppressions": 0,
    }
    problems = []
    for expected_file in sorted(corpus.glob("*/expected.json")):
        expected = json.loads(expected_file.read_text())
        for name, want in expected.items():
            raw = (expected_file.parent / name).read_bytes()
            kind, addresses, permanent, would_suppress = read_one(raw)
            where = f"{expected_file.parent.name}/{name}"
            totals["messages"] += 1
            wrong = []
            may_suppress = set(want["addresses"]) if want.get("permanent") else set()
            false = would_suppress - may_suppress
            if false:
                totals["false_suppressions"] += len(false)
                wrong.append(f"FALSE SUPPRESSION {sorted(false)}")
            if want["kind"] in ("bounce", "complaint"):
                totals["bounces"] += 1
                if kind == want["kind"]:
                    totals["recognised"] += 1
                else:
                    wrong.append(f"kind {kind}")
                if kind == want["kind"] and addresses == set(want["addresses"]):
                    totals["exact"] += 1
                else:
                    wrong.append(f"addresses {sorted(addresses)} != {want['addresses']}")
                if want["kind"] == "bounce" and want.get("permanent") is not None:
                    totals["temp_perm_total"] += 1
                    if kind == "bounce" and permanent == want["permanent"]:
                        totals["temp_perm_right"] += 1
                    else:
                        wrong.append(f"permanent {permanent} != {want['permanent']}")
            else:
                totals["others"] += 1
                if kind == want["kind"] or (want["kind"] == "human" and kind in ("human", "unsubscribe")):
                    totals["others_right"] += 1
                else:
                    wrong.append(f"kind {kind} != {want['kind']}")
            if wrong:
                problems.append(f"{where}: " + "; ".join(wrong))
    totals["problems"] = problems
    return totals


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    setup()
    t = evaluate(args.corpus, args.verbose)
    print(f"messages                 {t['messages']}")
    print(f"bounces and complaints   {t['bounces']}")
    print(f"recognised               {t['recognised']} ({percent(t['recognised'], t['bounces'])})")
    print(f"exact addresses          {t['exact']} ({percent(t['exact'], t['bounces'])})")
    print(
        f"temporary/permanent      {t['temp_perm_right']} of {t['temp_perm_total']} "
        f"({percent(t['temp_perm_right'], t['temp_perm_total'])})"
    )
    print(f"other mail left alone    {t['others_right']} of {t['others']}")
    print(f"false suppressions       {t['false_suppressions']}")
    if args.verbose:
        print("\n".join(t["problems"]))


if __name__ == "__main__":
    main()
