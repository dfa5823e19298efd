"""The new part of a reply: quoted history and the signature taken off, the whole answer kept.

Staff read the stripped text first (the full text is one click away, "show original"), and the
routing rules and the unsubscribe check look at it. Losing a line of the answer is worse than
leaving a line of the quote, so where this is unsure it keeps more.

How it reads a reply, line by line (plain text; HTML-only mail arrives here as text with
``> `` quotes, replies.parsing.html_to_text):

1. The first **quote header** at the top level of the mail starts the history:
   - an attribution line, in one or up to five wrapped lines ending in a colon: "On ... wrote:",
     "Am ... schrieb ...:", "Le ... a écrit :", "El ... escribió:", "Il ... ha scritto:",
     "Op ... schreef ...:", "Den ... skrev ...:", "Dne ... napsal(a):", "Dnia/W dniu ...
     napisał(a):", "... написал:", "... 写道：", "...님이 작성:", "2022年1月1日(金) 9:00 ... <...>:";
     it must carry a time or an address, so "On Monday I wrote this:" in an answer is not one.
     Each language mail-parser-reply knows (cs, da, de, en, es, fr, it, ja, ko, nl, pl, sv, zh)
     is covered: its own "wrote" expressions (mailparser_reply.constants) are tried as well;
   - an Outlook separator ("-----Original Message-----", "-----Ursprüngliche Nachricht-----",
     "-----Oprindelig meddelelse-----" ... in these languages) or a header block of at least two
     fields ("From:/Sent:/To:/Subject:", "Von:/Gesendet:/An:/Betreff:", "De :/Envoyé :", "Fra:/
     Sendt:", "*From:*", "发件人:" ...) with the "____" line above it; Gmail's and Apple Mail's
     attribution lines are the first kind; the dashed Android one ("---- X wrote ----") too.
2. After the header: if the history is quoted with ``>``, the person may have answered below it
   or between its lines (bottom-posting, interleaved answers): every unquoted line after it is
   kept, and read again for a further header. If it is not quoted (Outlook, Gmail's plain
   text), all of it is history.
3. Without a header, only ``>`` lines are taken off (a ``>>> ... <<<`` arrow is not a quote).
4. A signature after "-- " (RFC 3676) at the end of the answer goes, and so do the lines mail
   apps append ("Sent from my iPhone", "Von meinem iPhone gesendet", "Get Outlook for iOS") when
   they end it; sign-offs ("Viele Grüße") and bullet lists ("- item") stay.
5. A forwarded message ("---------- Forwarded message ----------", "Begin forwarded message:")
   is the answer, not history: nothing after it is cut.

If nothing would be left, the text is returned whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mailparser_reply.constants import MAIL_LANGUAGES

# The languages of mail-parser-reply (the "david" entry is a program, not a language).
LANGUAGES = ("cs", "da", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "sv", "zh")
WINDOW = 5  # lines an attribution may be wrapped over

_VERBS = (
    r"wrote|sent|schrieb|geschrieben|a\s+écrit|écrit|escribió|escribio|ha\s+scritto|scritto|schreef"
    r"|geschreven|het\s+volgende|skrev|skriver|napsal(?:\(a\))?|napisał(?:\(a\))?|napisal(?:\(a\))?"
    r"|nadesłał|написал(?:а|\(а\))?|написав(?:ла)?|đã\s+viết|kirjoitti|escreveu|yazdı"
)
VERB = re.compile(rf"(?<!\w)(?:{_VERBS})(?!\w)|写道|寫道|님이\s*작성", re.I)
# Cheap substring test before VERB (a large alternation is slow to try at every position).
_VERB_STEMS = (
    "wrote",
    "sent",
    "schrieb",
    "geschrieben",
    "écrit",
    "escribi",
    "scritto",
    "schreef",
    "geschreven",
    "het volgende",
    "skrev",
    "napsal",
    "napisa",
    "nadesła",
    "написа",
    "đã viết",
    "kirjoitti",
    "escreveu",
    "yazdı",
    "写道",
    "寫道",
    "작성",
)
TIME = re.compile(r"\b\d{1,2}[:.]\d{2}\b")
# Anchored at the start of a run of address characters, so a long word costs one try, not one per letter.
ADDRESS = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CJK_DATE = re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}\s*년\s*\d{1,2}\s*월")
NUMERIC_DATE = re.compile(r"^\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|^\s*\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b")
OPENER = re.compile(
    r"^\s*(?:-+\s*)?(?:On|Am|Le|El|Il|In\s+data|Op|Den|Dne|Dnia|W\s+dniu|Em|På|Vào|Kello|Op)\b"
    r"|^\s*\d",
    re.I,
)
# "reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:": the answer shares the line.
MID_LINE_ON = re.compile(r"\bOn\s+(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\w*,")
VERB_AT_END = re.compile(rf"(?<!\w)(?:{_VERBS})$", re.I)
ORIGINAL_SEPARATOR = re.compile(
    r"^\s*[-_*]{2,}\s*(?:original\s+message|ursprüngliche\s+nachricht|originalnachricht"
    r"|oprindelig\s+meddelelse|message\s+d'origine|mensaje\s+original|messaggio\s+originale"
    r"|oorspronkelijk\s+bericht|originalmeddelande|ursprungligt\s+meddelande|wiadomość\s+oryginalna"
    r"|původní\s+zpráva|mensagem\s+original|原始邮件|原始郵件|元のメッセージ|원본\s*메시지)\s*[-_*]{2,}\s*$",
    re.I,
)
FORWARD_MARKER = re.compile(
    r"^\s*-{2,}\s*(?:forwarded\s+message|weitergeleitete\s+nachricht|message\s+transféré|mensaje\s+reenviado"
    r"|messaggio\s+inoltrato|doorgestuurd\s+bericht|vidarebefordrat\s+meddelande|videresendt\s+meddelelse"
    r"|wiadomość\s+przekazana|přeposlaná\s+zpráva|转发的邮件|転送されたメッセージ)\s*-{2,}\s*$"
    r"|^\s*(?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+nachricht"
    r"|début\s+du\s+message\s+réexpédié)\s*:",
    re.I,
)
RULE_LINE = re.compile(r"^\s*[-_=—*]{5,}\s*$")
_FIELDS = (
    "From|Sent|To|Subject|Date|Cc|Bcc|Reply-To|Von|Gesendet|An|Betreff|Datum|Kopie|De|Envoyé|Envoye|À|A"
    "|Objet|Para|Enviado|Enviada em|Enviado em|Assunto|Asunto|Fecha|Da|Inviato|Oggetto|Data|Van|Verzonden|Aan"
    "|Onderwerp|Från|Skickat"
    "|Till|Ämne|Kopia|Fra|Sendt|Til|Emne|Kopi|Od|Wysłano|Do|Temat|DW|Odesláno|Komu|Předmět|Kopie"
    "|发件人|發件人|发送时间|發送時間|收件人|主题|主旨|抄送|日期|差出人|送信日時|宛先|件名|보낸\\s*사람|받는\\s*사람"
    "|보낸\\s*날짜|날짜|제목|참조"
)
FIELD = re.compile(rf"^\s*(?:\*\s*)?(?:{_FIELDS})\s*(?:\*\s*)?[:：]", re.I)
FIRST_FIELD = re.compile(
    r"^\s*(?:\*\s*)?(?:From|Von|De|Da|Van|Från|Fra|Od|发件人|發件人|差出人|보낸\s*사람|Date|Datum|Sent|Gesendet)"
    r"\s*(?:\*\s*)?[:：]",
    re.I,
)
# "Date: ... From: a@b.c To: ... Subject: ..." on one line (an Outlook header block run together).
INLINE_FIELD = re.compile(
    r"(?:^|\s)(?:From|To|Subject|Sent|Date|Cc|Von|An|Betreff|Gesendet|Datum|De|À|Objet)\s?:", re.I
)
SIGNATURE_DELIMITER = re.compile(r"^--\s?$")
# What mail apps append to the answer; taken off only as the answer's last lines, whole.
SENT_FROM = re.compile(
    r"^\s*(?:sent from my|sent with|sent via|von meinem|gesendet von|gesendet mit|envoyé de mon|envoyé depuis"
    r"|enviado desde mi|enviado do meu|inviato da|verzonden (?:vanaf|met) mijn|skickat från min|sendt fra min"
    r"|verstuurd (?:vanaf|met) mijn|wysłano z|odesláno z|(?:get|download) outlook for"
    r"|télécharger outlook pour"
    r"|holen sie sich outlook für"
    r"|outlook for (?:ios|android) herunterladen)\b.{0,60}$",
    re.I,
)
SIGNATURE_MAX_LINES = 10
_ARROW = re.compile(r"<{1,3}\s*$")
_BLANK_RUNS = re.compile(r"\n{3,}")


@lru_cache(maxsize=1)
def _library_attributions() -> list[re.Pattern]:
    """mail-parser-reply's "wrote" expression of each language, applied to single lines."""
    patterns = []
    for language in LANGUAGES:
        source = MAIL_LANGUAGES.get(language, {}).get("wrote_header")
        if source:
            patterns.append(re.compile(source, re.I | re.M))
    return patterns


def has_verb(text: str) -> bool:
    lowered = text.lower()
    return any(stem in lowered for stem in _VERB_STEMS) and bool(VERB.search(text))


def has_address(text: str) -> bool:
    return "@" in text and bool(ADDRESS.search(text))


def is_quoted(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(">") and not _ARROW.search(stripped)


def _wrapped_into_quote(lines: list[str], index: int) -> bool:
    """A word without spaces between two quoted lines is the quote's own wrapped URL or word."""
    line = lines[index].strip()
    if not line or " " in line or index == 0 or index + 1 >= len(lines):
        return False
    return is_quoted(lines[index - 1]) and is_quoted(lines[index + 1])


def _unquote(line: str) -> str:
    return line.lstrip().lstrip(">").strip()


@dataclass(frozen=True)
class Header:
    start: int  # first line of the history
    end: int  # first line after the header itself
    prefix: str = ""  # answer text on the header's first line, before it
    quoted_below: bool = False  # the history under the header is quoted with ">"


def _attribution(lines: list[str], k: int) -> tuple[int, str] | None:
    """If an attribution ends on line k: (its first line, answer text before it on that line)."""
    if not lines[k].rstrip().endswith((":", "：")):
        return None
    for start in range(k, max(-1, k - WINDOW), -1):
        if start < k and (is_quoted(lines[start]) or lines[start].rstrip().endswith((".", "!", "?"))):
            break  # an attribution does not reach back over a quote or a finished sentence
        window = lines[start : k + 1]
        block = " ".join(
            _unquote(line) if index == k else line.strip() for index, line in enumerate(window, start)
        )
        if not block:
            continue
        if not (TIME.search(block) or has_address(block)):
            continue  # an attribution names a time or an address
        if not (has_verb(block) or CJK_DATE.search(block) or NUMERIC_DATE.search(lines[start])):
            continue
        first = lines[start]
        opens = OPENER.search(first) or has_address(block) or CJK_DATE.search(block)
        if not opens:
            continue
        start = _extend_upwards(lines, start)
        prefix = ""
        mid = MID_LINE_ON.search(lines[start])
        if mid and lines[start][: mid.start()].strip():
            prefix = lines[start][: mid.start()].rstrip(" -")
        return start, prefix
    return None


def _extend_upwards(lines: list[str], start: int) -> int:
    """Take in the first lines of an attribution wrapped over a blank line or an open "<"."""
    for above in range(start - 1, max(-1, start - 4), -1):
        line = lines[above].strip()
        if not line or line == "<":
            continue
        if is_quoted(lines[above]) or line[-1:] in ".!?":
            return start
        if OPENER.search(line) and TIME.search(line):
            return above
        return start
    return start


def _library_attribution(line: str) -> bool:
    """One of mail-parser-reply's expressions, with a time or an address as everywhere here."""
    line = line.strip()
    if not (TIME.search(line) or has_address(line)):
        return False
    return any(pattern.match(line) for pattern in _library_attributions())


def _header_block(lines: list[str], i: int) -> int | None:
    """If a header block ("From:/Sent:/To:") starts on line i: the first line after it."""
    if not FIRST_FIELD.match(lines[i]):
        return None
    if len(INLINE_FIELD.findall(lines[i])) >= 3 and has_address(lines[i]):
        return i + 1
    fields, end, has_value = 1, i + 1, bool(has_address(lines[i]) or re.search(r"\d", lines[i]))
    gap = 0
    while end < len(lines) and gap <= 1:
        line = lines[end]
        if FIELD.match(line):
            fields += 1
            has_value = has_value or bool(has_address(line) or re.search(r"\d", line))
            gap = 0
        elif line.strip() and fields >= 1 and gap == 0 and len(line.strip()) < 120 and end == i + 1:
            gap += 1  # a wrapped value ("From: Human Resources\n<long-address@...>")
        else:
            break
        end += 1
    return end if fields >= 2 and has_value else None


def _separator_above(lines: list[str], start: int) -> int:
    """Include the "____"/"-----Original Message-----" line and blank lines right above a block."""
    above = start - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above >= 0 and (RULE_LINE.match(lines[above]) or ORIGINAL_SEPARATOR.match(lines[above])):
        return above
    return start


def _dashed(line: str) -> bool:
    """Android's "---- Anna Berg wrote ----" (and "------On ... wrote-----")."""
    stripped = line.strip()
    if not (stripped.startswith("--") and stripped.endswith("--")):
        return False
    inner = stripped.strip("-").strip()
    return has_verb(inner) and bool(VERB_AT_END.search(inner))


def _quoted_below(lines: list[str], end: int) -> bool:
    for line in lines[end:]:
        if line.strip():
            return is_quoted(line)
    return False


def find_header(lines: list[str], begin: int = 0) -> Header | None:
    """The first quote header at the top level from line ``begin`` on, or None."""
    for i in range(begin, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if FORWARD_MARKER.match(line):
            return None  # what follows is the forwarded message: the answer, not history
        if is_quoted(line):
            # A quoted line can close an attribution begun above ("...\n> wrote:"); otherwise skip.
            found = _attribution(lines, i) if has_verb(line) else None
            if found and found[0] < i:
                return Header(found[0], i + 1, found[1], _quoted_below(lines, i + 1))
            continue
        if ORIGINAL_SEPARATOR.match(line):
            return Header(i, i + 1, "", _quoted_below(lines, i + 1))
        if _dashed(line):
            return Header(i, i + 1, "", _quoted_below(lines, i + 1))
        block_end = _header_block(lines, i)
        if block_end is not None:
            return Header(_separator_above(lines, i), block_end, "", _quoted_below(lines, block_end))
        found = _attribution(lines, i)
        if found is not None:
            return Header(found[0], i + 1, found[1], _quoted_below(lines, i + 1))
        if _library_attribution(line):
            return Header(i, i + 1, "", _quoted_below(lines, i + 1))
        if NUMERIC_DATE.match(line) and has_address(line) and _quoted_below(lines, i + 1):
            return Header(i, i + 1, "", True)  # "2011/4/7 Name <a@b.c>" above a quote
    return None


def _strip_signature(lines: list[str]) -> list[str]:
    for index in range(len(lines) - 1, -1, -1):
        if SIGNATURE_DELIMITER.match(lines[index]):
            if len(lines) - index - 1 <= SIGNATURE_MAX_LINES:
                lines = lines[:index]
            break
    while lines and (not lines[-1].strip() or SENT_FROM.match(lines[-1])):
        lines = lines[:-1]
    return lines


def answer_lines(lines: list[str]) -> list[str]:
    """The lines of ``lines`` that are the person's answer."""
    kept: list[str] = []
    begin = 0
    while True:
        header = find_header(lines, begin)
        if header is None:
            kept += [line for line in lines[begin:] if not is_quoted(line)]
            return kept
        kept += [line for line in lines[begin : header.start] if not is_quoted(line)]
        if header.prefix:
            kept.append(header.prefix)
        if not header.quoted_below:
            return kept  # Outlook / Gmail plain text: everything below is the original
        # Quoted below: answers may follow the quote (bottom-posting) or sit between its lines.
        begin = header.end
        lines = [
            ">" if index >= begin and _wrapped_into_quote(lines, index) else line
            for index, line in enumerate(lines)
        ]


def strip_quotes_and_signature(text: str) -> str:
    """The new part of a reply, without the quoted history and the signature."""
    if not text.strip():
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = _strip_signature(answer_lines(lines))
    stripped = _BLANK_RUNS.sub("\n\n", "\n".join(line.rstrip() for line in kept)).strip()
    return stripped or text.strip()
