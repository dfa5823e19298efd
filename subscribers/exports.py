"""The subscriber's data download: a ZIP with everything stored about them (DSGVO Art. 15, 20).

`data.json` holds the subscriber's own data (selectors.subscriber_export: the subscriber,
subscriptions, consent history) and one entry per registered section; files (attachments,
raw mails) sit beside it. Other apps contribute what they store about a subscriber by
registering a Section from their own `exports.py` in their AppConfig.ready, so this app
never imports them:

    exports.register(exports.Section(key="deliveries", label=_("Mails we sent you"),
                                     count=count_deliveries, collect=collect_deliveries))

`collect(subscriber)` returns a SectionData: JSON-ready records and ExportFile entries.
The preference centre lists the sections with their counts, so a subscriber sees what the
download contains before asking for it.
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from subscribers import selectors
from subscribers.models import Subscriber

DATA_FILE = "data.json"
README_FILE = "README.txt"
# Spooled to disk beyond this: attachments can be large, and a web process must stay small.
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ExportFile:
    path: str  # inside the archive, below the section's folder, e.g. "12/34/invoice.pdf"
    open: Callable[[], IO[bytes]]  # opened only while the archive is written
    # A record of the section that names this file: its "file" key gets the path in the archive.
    record: dict | None = None


@dataclass
class SectionData:
    records: list[dict]
    files: list[ExportFile] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    key: str  # the key in data.json and the folder of its files
    label: str | Promise
    count: Callable[[Subscriber], int]
    collect: Callable[[Subscriber], SectionData]


_sections: dict[str, Section] = {}


def register(section: Section) -> None:
    """Add (or replace, by key: AppConfig.ready may run twice) a section of the download."""
    if section.key in {
        "exported_at",
        "subscriber",
        "subscriptions",
        "consent_history",
        "on_suppression_list",
    }:
        raise ValueError(f"export section key {section.key!r} is taken by the subscriber's own data")
    _sections[section.key] = section


def sections() -> list[Section]:
    return list(_sections.values())


@dataclass(frozen=True)
class SummaryLine:
    label: str | Promise
    count: int


def summary(subscriber: Subscriber) -> list[SummaryLine]:
    """What the download contains, for the preference centre: one line per part, with its count."""
    own = [
        SummaryLine(_("Your address, name, language and settings"), 1),
        SummaryLine(_("Topics and their status"), selectors.subscriptions(subscriber).count()),
        SummaryLine(
            _("Consent history (with IP addresses and browsers)"),
            selectors.consent_history(subscriber).count(),
        ),
    ]
    return own + [SummaryLine(section.label, section.count(subscriber)) for section in sections()]


_UNSAFE = re.compile(r"[^\w.\- ()\[\]@+,]", re.UNICODE)


def _safe_path(folder: str, path: str) -> str:
    """A relative path inside the archive: no "..", no absolute paths, no odd characters."""
    parts = []
    for part in path.replace("\\", "/").split("/"):
        part = _UNSAFE.sub("_", part).strip(" .")
        if part:
            parts.append(part[:120])
    return posixpath.join(folder, *(parts or ["file"]))


def _unique(path: str, taken: set[str]) -> str:
    candidate, number = path, 1
    stem, ext = posixpath.splitext(path)
    while candidate in taken:
        number += 1
        candidate = f"{stem}-{number}{ext}"
    taken.add(candidate)
    return candidate


def build_archive(subscriber: Subscriber) -> IO[bytes]:
    """The ZIP, written to a spooled temporary file and rewound; the caller closes it."""
    data = selectors.subscriber_export(subscriber)
    files: list[tuple[str, ExportFile]] = []
    taken = {DATA_FILE, README_FILE}
    for section in sections():
        collected = section.collect(subscriber)
        data[section.key] = collected.records
        for item in collected.files:
            path = _unique(_safe_path(section.key, item.path), taken)
            if item.record is not None:
                item.record["file"] = path
            files.append((path, item))
    archive = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the response closes it
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        missing = []
        for path, item in files:
            try:
                source = item.open()
            except OSError:  # a file gone from storage must not cost the subscriber the rest
                missing.append(path)
                continue
            with source, zipped.open(path, "w") as target:
                shutil.copyfileobj(source, target)
        if missing:
            data["missing_files"] = missing
        zipped.writestr(DATA_FILE, json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
        with translation.override(subscriber.language):
            readme = render_to_string(
                "subscribers/export_readme.txt",
                {"subscriber": subscriber, "lines": summary(subscriber), "files": [p for p, _f in files]},
            )
        zipped.writestr(README_FILE, readme)
    archive.seek(0)
    return archive
