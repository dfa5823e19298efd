"""Microsoft Exchange / Office 365 non-delivery reports sent as plain text, without a DSN part.

flufl.bounce's Exchange detector knows the older "did not reach the following recipient(s)"
layout; the newer one (also localised: German "Fehler bei der Zustellung an folgende
Empfänger oder Gruppen") lists each failed recipient on its own line right after that heading,
the address first, and names the server's answer in "Remote Server returned '550 5.1.10 ...'".
This reader takes only those lines, never addresses from elsewhere in the text (Rundbrief's own
rule: no library covers this layout).
"""

from __future__ import annotations

import re

from replies.bounces.addresses import AddressFilter
from replies.bounces.report import Failure
from replies.bounces.vocabulary import classify, is_permanent, parse_status

_HEADING = re.compile(
    r"^\s*(delivery has failed to these recipients or groups"
    r"|fehler bei der zustellung an folgende empf(ä|ae)nger"
    r" oder gruppen|die zustellung an folgende empf(ä|ae)nger oder gruppen ist fehlgeschlagen"
    r"|la remise aux destinataires ou groupes suivants a échoué)\s*:?\s*$",
    re.I | re.M,
)
_RECIPIENT_LINE = re.compile(r"^\s*<?([^\s<>()@]+@[^\s<>()@]+?)>?\s*(\(.*\))?\s*$")
_REMOTE = re.compile(
    r"(remote server returned|der remoteserver hat|le serveur distant a retourné)[^'\n]*'([^'\n]+)'", re.I
)


def read_exchange_text(text: str, addresses: AddressFilter) -> list[Failure]:
    heading = _HEADING.search(text)
    if not heading:
        return []
    lines = text[heading.end() :].splitlines()
    candidates = []
    for line in lines:
        if not line.strip():
            if candidates:
                break
            continue
        match = _RECIPIENT_LINE.match(line)
        if not match:
            break
        candidates.append(match.group(1))
    remote = _REMOTE.search(text)
    diagnostic = remote.group(2).strip() if remote else ""
    status = parse_status(diagnostic)
    reason = classify(status, diagnostic)
    permanent = is_permanent(action="failed", status=status, diagnostic=diagnostic, reason=reason)
    failures = []
    for candidate in candidates:
        address = addresses.keep(candidate)
        if address and address not in [f.address for f in failures]:
            failures.append(
                Failure(
                    address=address,
                    permanent=permanent,
                    reason=reason,
                    status=status,
                    action="failed",
                    diagnostic=diagnostic[:1000],
                    field="exchange_ndr",
                )
            )
    return failures
