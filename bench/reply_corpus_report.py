"""Reply corpus figures (issue #9) for this checkout and, beside them, for an older commit.

Scores every case of tests/replies/corpus/ (tests/replies/reply_corpus.py): human replies
that reach a queue, auto-replies recognised, replies whose whole answer survives quote
stripping, replies whose quoted history is removed. The same cases and the same scoring run
against the code of ``--before`` (default: the commit before the corpus was added, the code as
it was before issue #9's reply work; ``--before main`` compares with main; exported with
``git archive`` into a temporary directory, nothing of this checkout touched) and against this
checkout, each in a process of its own. No database: only parsing, the recognition chain and stripping run.

    .venv/bin/python bench/reply_corpus_report.py [--before REF] [--failures]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "replies" / "reply_corpus.py"


def run_here(code: Path) -> dict:
    """Score the corpus with the project code in ``code``; returns the figures as a dict."""
    sys.path.insert(0, str(code))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    os.environ.update(
        {"DEBUG": "true", "SECRET_KEY": "bench", "WEBHOOK_SECRET": "bench:bench", "REDIS_URL": ""}
    )
    os.environ["DATABASE_URL"] = "sqlite:///" + str(Path(tempfile.gettempdir()) / "rb_reply_corpus.sqlite3")
    import django

    django.setup()
    spec = importlib.util.spec_from_file_location("reply_corpus_harness", HARNESS)
    harness = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = harness  # dataclasses look their module up while the class is made
    spec.loader.exec_module(harness)
    scored = [harness.score(case) for case in harness.load("replies") + harness.load("auto_replies")]
    result = harness.figures(scored)
    return {"lines": result.lines(), "failures": result.failures}


def export(ref: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def commit_before_corpus() -> str:
    """The code as it was before issue #9's work: the parent of the commit that added the corpus."""
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%h", "--", "tests/replies/corpus/README.md"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return f"{added[-1]}^"


def figures_of(code: Path) -> dict:
    # Run in ``code``: Celery's Django fix-up puts the working directory first on sys.path.
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--code", str(code)],
        cwd=code,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"scoring the code in {code} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--before",
        default=None,
        help="git ref whose code gives the 'before' figures (default: the commit before the corpus came)",
    )
    parser.add_argument("--failures", action="store_true", help="list every case that misses a bar")
    parser.add_argument("--code", help=argparse.SUPPRESS)  # internal: score with the code in this directory
    args = parser.parse_args()
    if args.code:
        print(json.dumps(run_here(Path(args.code))))
        return
    before_ref = args.before or commit_before_corpus()
    with tempfile.TemporaryDirectory(prefix="rb-before-") as tmp:
        export(before_ref, Path(tmp))
        before = figures_of(Path(tmp))
    after = figures_of(ROOT)
    for label, result in ((f"before ({before_ref})", before), ("after (this checkout)", after)):
        print(label)
        for line in result["lines"]:
            print("  " + line)
        if args.failures:
            for failure in result["failures"]:
                print("    - " + failure)


if __name__ == "__main__":
    main()
