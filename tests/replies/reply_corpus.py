"""The reply corpus (tests/replies/corpus/): loading the cases and scoring recognition and stripping.

Two folders, each with one sub-folder per public source (its README.md names source and
licence), each with a ``cases.json``:

    {"id": ..., "file": "x.eml" | "x.txt"  (or "text": "..."),
     "kind": "human" | "auto_reply",
     "keep": [...],      # text of the answer: every item must survive stripping
     "gone": [...],      # quoted history / quote headers: should be stripped
     "optional": [...]}  # sign-offs and signatures: may go or stay

A ``.txt`` case (or inline ``text``) is a body only, as the source library tests it; it is
wrapped in a plain reply from a subscriber (``wrap_body``) so it walks the same pipeline as a
whole ``.eml``. Items are compared with whitespace collapsed; a ``gone`` item shorter than 12
characters counts as present only when it is a whole line (so "Hi" is not found in "this").

Only replies.parsing.parse_mail, ParsedMail.stripped_text and replies.pipeline.chain.classify
are used, which main had before this harness, so bench/reply_corpus_report.py can score an
older checkout with the same code (its "before" figures).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
SHORT = 12


@dataclass
class Case:
    set: str
    id: str
    kind: str
    raw: bytes
    keep: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.set}/{self.id}"


def wrap_body(body: str, case_id: str) -> bytes:
    """A body-only case as the plain-text reply a subscriber's client would send."""
    date = format_datetime(datetime(2026, 11, 21, 10, 0, tzinfo=UTC))
    headers = (
        "From: Sam Subscriber <sam@example.org>\r\n"
        "To: reply+00000000000000000000000000000000@reply.localhost\r\n"
        "Subject: Re: Unser Rundbrief im November\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: <{case_id}@corpus.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return headers.encode() + body.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def load(folder: str) -> list[Case]:
    """Every case under corpus/<folder>/ (replies or auto_replies), in a stable order."""
    cases = []
    for cases_file in sorted((CORPUS / folder).glob("*/cases.json")):
        set_dir = cases_file.parent
        for item in json.loads(cases_file.read_text(encoding="utf-8")):
            if "text" in item:
                raw = wrap_body(item["text"], item["id"])
            elif item["file"].endswith(".txt"):
                raw = wrap_body((set_dir / item["file"]).read_text(encoding="utf-8"), item["id"])
            else:
                raw = (set_dir / item["file"]).read_bytes()
            cases.append(
                Case(
                    set=set_dir.name,
                    id=item["id"],
                    kind=item["kind"],
                    raw=raw,
                    keep=item.get("keep", []),
                    gone=item.get("gone", []),
                    optional=item.get("optional", []),
                )
            )
    return cases


def _collapse(text: str) -> str:
    return " ".join(text.split())


def present(item: str, text: str, *, whole_line_if_short: bool = False) -> bool:
    """Whether ``item`` is in ``text`` (whitespace collapsed); a short ``gone`` item only as a whole line."""
    item = _collapse(item)
    if len(item) >= SHORT or not whole_line_if_short:
        return item in _collapse(text)
    return any(_collapse(line) == item for line in text.splitlines())


@dataclass
class Scored:
    case: Case
    kind: str  # what the chain decided
    rule: str  # the rule that fired
    stripped: str
    lost: list[str]  # keep items missing from the stripped text
    left: list[str]  # gone items still in it
    unread: list[str]  # keep items already missing from the text before stripping (a parsing loss)

    @property
    def lost_by_stripping(self) -> list[str]:
        return [item for item in self.lost if item not in self.unread]

    @property
    def kind_right(self) -> bool:
        return self.kind == self.case.kind


def score(case: Case) -> Scored:
    """Recognise and strip one case with the code on sys.path (no database needed)."""
    # Imported here so the bench can put another checkout on sys.path before the project loads.
    from replies.matching import Match
    from replies.parsing import parse_mail
    from replies.pipeline.chain import classify
    from replies.pipeline.context import Context

    mail = parse_mail(case.raw)
    link, _hits = classify(Context(mail=mail, match=Match()))
    stripped = mail.stripped_text
    return Scored(
        case=case,
        kind=str(link.kind),
        rule=link.rule.name,
        stripped=stripped,
        lost=[item for item in case.keep if not present(item, stripped)],
        left=[item for item in case.gone if present(item, stripped, whole_line_if_short=True)],
        unread=[item for item in case.keep if not present(item, mail.text)],
    )


@dataclass
class Figures:
    human: int = 0
    human_to_queue: int = 0
    auto: int = 0
    auto_recognised: int = 0
    with_answer: int = 0
    answer_kept: int = 0
    kept_by_stripping: int = 0
    with_quote: int = 0
    quote_removed: int = 0
    failures: list[str] = field(default_factory=list)

    def pct(self, part: int, whole: int) -> float:
        return 100.0 * part / whole if whole else 100.0

    @property
    def queue_pct(self) -> float:
        return self.pct(self.human_to_queue, self.human)

    @property
    def auto_pct(self) -> float:
        return self.pct(self.auto_recognised, self.auto)

    @property
    def kept_pct(self) -> float:
        return self.pct(self.answer_kept, self.with_answer)

    @property
    def stripping_kept_pct(self) -> float:
        return self.pct(self.kept_by_stripping, self.with_answer)

    @property
    def removed_pct(self) -> float:
        return self.pct(self.quote_removed, self.with_quote)

    def lines(self) -> list[str]:
        return [
            f"human replies reaching a queue: {self.human_to_queue}/{self.human} ({self.queue_pct:.1f} %)",
            f"auto-replies recognised: {self.auto_recognised}/{self.auto} ({self.auto_pct:.1f} %)",
            f"whole answer kept: {self.answer_kept}/{self.with_answer} ({self.kept_pct:.1f} %)",
            f"  of which quote stripping kept: {self.kept_by_stripping}/{self.with_answer}"
            f" ({self.stripping_kept_pct:.1f} %; the rest was lost reading the MIME before stripping)",
            f"quoted history removed: {self.quote_removed}/{self.with_quote} ({self.removed_pct:.1f} %)",
        ]


def figures(scored: list[Scored]) -> Figures:
    result = Figures()
    for item in scored:
        case = item.case
        if case.kind == "human":
            result.human += 1
            if item.kind == "human":
                result.human_to_queue += 1
            else:
                result.failures.append(f"{case.name}: human reply taken as {item.kind} by {item.rule}")
            if case.keep:
                result.with_answer += 1
                if item.lost_by_stripping:
                    result.failures.append(
                        f"{case.name}: answer lost by stripping {item.lost_by_stripping!r}"
                    )
                else:
                    result.kept_by_stripping += 1
                if item.unread:
                    result.failures.append(f"{case.name}: answer not in the parsed text {item.unread!r}")
                if not item.lost:
                    result.answer_kept += 1
            if case.gone:
                result.with_quote += 1
                if item.left:
                    result.failures.append(f"{case.name}: quote left {item.left!r}")
                else:
                    result.quote_removed += 1
        else:
            result.auto += 1
            if item.kind == case.kind:
                result.auto_recognised += 1
            else:
                result.failures.append(f"{case.name}: auto-reply taken as {item.kind} by {item.rule}")
    return result
