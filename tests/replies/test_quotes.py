"""Quote and signature stripping (replies/quotes.py): the whole answer stays, the history goes,
and where the reading is unsure more text is kept, never less."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replies.quotes import strip_quotes_and_signature as strip


def test_bullet_lists_are_kept():
    text = (
        "Hallo Anna,\n\nzwei Fragen:\n- Gilt die Förderung auch für Altbauten?\n- Bis wann muss ich den\n"
        "  Antrag stellen?\n\nDanke!\n\nAm 21.11.2026 um 10:00 schrieb Rundbrief <news@example.org>:\n"
        "> Liebe Leserin,\n> - erster Punkt\n"
    )
    stripped = strip(text)
    assert "- Gilt die Förderung auch für Altbauten?" in stripped
    assert "- Bis wann muss ich den\n  Antrag stellen?" in stripped
    assert "Danke!" in stripped
    assert "Liebe Leserin" not in stripped and "erster Punkt" not in stripped and "schrieb" not in stripped


def test_bottom_posting_keeps_the_answer_below_the_quote():
    text = (
        "On Sat, Nov 21, 2026 at 10:00 AM Rundbrief <news@example.org> wrote:\n"
        "> Our November issue is about heat pumps.\n>\n> Dear reader, ...\n\n"
        "Does the subsidy also apply to flats?\n\nBen\n"
    )
    stripped = strip(text)
    assert stripped.startswith("Does the subsidy also apply to flats?")
    assert "Ben" in stripped
    assert "heat pumps" not in stripped and "wrote:" not in stripped


def test_interleaved_answers_are_all_kept():
    text = (
        "Anna Berg <anna@example.org> schrieb am Sa., 21. Nov. 2026, 10:00:\n"
        "> Wie heizen Sie?\n\nMit Gas, noch.\n\n> Planen Sie einen Umstieg?\n\nJa, 2027.\n\n"
        "> Dürfen wir Sie anrufen?\nLieber per Mail.\n"
    )
    stripped = strip(text)
    for answer in ("Mit Gas, noch.", "Ja, 2027.", "Lieber per Mail."):
        assert answer in stripped
    assert "Wie heizen Sie?" not in stripped and "schrieb am" not in stripped


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "----- Original Message -----",
        "-----Ursprüngliche Nachricht-----",
        "-----Oprindelig meddelelse-----",
        "-------- Message d'origine --------",
        "-----Mensaje original-----",
        "-----Messaggio originale-----",
        "-----Oorspronkelijk bericht-----",
        "-----Ursprungligt meddelande-----",
        "-----Wiadomość oryginalna-----",
        "-----Původní zpráva-----",
    ],
)
def test_outlook_separators_and_everything_below_them_go(separator):
    text = (
        f"Passt, danke.\n\n{separator}\nVon: Anna Berg\nGesendet: Samstag, 21. November 2026 10:00\n"
        "\nAlter Text\n"
    )
    assert strip(text) == "Passt, danke."


@pytest.mark.parametrize(
    "block",
    [
        "________________________________\nFrom: Anna Berg <anna@example.org>\n"
        "Sent: Saturday, November 21, 2026 10:00\nTo: Ben <ben@example.com>\nSubject: Our November issue",
        "Von: Anna Berg <anna@example.org>\nGesendet: Samstag, 21. November 2026 10:00\nAn: Ben\nBetreff: x",
        "*From:* Anna Berg [mailto:anna@example.org]\n*Sent:* Saturday, November 21, 2026 10:00\n*To:* Ben",
        "De : Anna Berg [mailto:anna@example.org]\nEnvoyé : samedi 21 novembre 2026 10:00\nÀ : Ben",
        "Fra: Anna Berg <anna@example.org>\nSendt: 21. november 2026 10:00\nTil: Ben\nEmne: x",
        "Från: Anna Berg <anna@example.org>\nSkickat: den 21 november 2026 10:00\nTill: Ben\nÄmne: x",
        "Van: Anna Berg <anna@example.org>\nVerzonden: zaterdag 21 november 2026 10:00\nAan: Ben",
        "Od: Anna Berg <anna@example.org>\nWysłano: sobota, 21 listopada 2026 10:00\nDo: Ben\nTemat: x",
        "发件人: Anna Berg <anna@example.org>\n发送时间: 2026年11月21日 10:00\n收件人: Ben\n主题: x",
    ],
)
def test_outlook_header_blocks_start_the_history(block):
    text = f"The answer stays.\n\n{block}\n\nThe original goes.\n"
    assert strip(text) == "The answer stays."


@pytest.mark.parametrize(
    "attribution",
    [
        "On Sat, Nov 21, 2026 at 10:00 AM Anna Berg <anna@example.org> wrote:",  # Gmail
        "On 21 Nov 2026, at 10:00, Anna Berg <anna@example.org> wrote:",  # Apple Mail
        "On 21.11.26 10:00, Anna Berg wrote:",  # Thunderbird
        "Am Sa., 21. Nov. 2026 um 10:00 Uhr schrieb Anna Berg <anna@example.org>:",  # de
        "Am 21.11.2026 um 10:00 schrieb Anna Berg:",
        "Dne so 21. 11. 2026 10:00 Anna Berg <anna@example.org> napsal(a):",  # cs
        "Den lør. 21. nov. 2026 kl. 10.00 skrev Anna Berg <anna@example.org>:",  # da
        "El sáb, 21 nov 2026 a las 10:00, Anna Berg (<anna@example.org>) escribió:",  # es
        "Le sam. 21 nov. 2026 à 10:00, Anna Berg <anna@example.org> a écrit :",  # fr
        "Il giorno sab 21 nov 2026 alle ore 10:00 Anna Berg <anna@example.org> ha scritto:",  # it
        "2026年11月21日(土) 10:00 Anna Berg <anna@example.org>:",  # ja
        "2026년 11월 21일 (토) 오전 10:00, Anna Berg <anna@example.org>님이 작성:",  # ko
        "Op za 21 nov. 2026 om 10:00 schreef Anna Berg <anna@example.org>:",  # nl
        "W dniu 21.11.2026 o 10:00 Anna Berg <anna@example.org> napisał(a):",  # pl
        "Den lör 21 nov. 2026 kl 10:00 skrev Anna Berg <anna@example.org>:",  # sv
        "Anna Berg <anna@example.org> 于2026年11月21日周六 10:00写道：",  # zh
        "---- Anna Berg wrote ----",  # Android
    ],
)
def test_attributions_of_every_language_start_the_history(attribution):
    text = f"Die Antwort.\n\n{attribution}\n\n> Die alte Nachricht.\n"
    assert strip(text) == "Die Antwort."


def test_a_wrapped_attribution_is_found_whole():
    text = "Gern.\n\nAm Sa., 21. Nov. 2026 um 10:00 Uhr schrieb Anna Berg <\nanna@example.org>:\n\n> Frage?\n"
    assert strip(text) == "Gern."


def test_plain_text_history_below_an_attribution_goes():
    """Gmail's plain-text part may quote without ">": all below the attribution is history."""
    text = (
        "Yes, please.\n\nOn Sat, Nov 21, 2026 at 10:00 AM Anna <anna@example.org> wrote:\n\nOld text\nmore\n"
    )
    assert strip(text) == "Yes, please."


def test_a_sentence_that_looks_like_an_attribution_is_kept():
    text = "On Monday I wrote this down:\n\nthe boiler is from 1998\nand it still works.\n"
    assert strip(text) == text.strip()


def test_a_forwarded_message_is_the_answer():
    text = (
        "FYI, mein Vermieter dazu:\n\n---------- Forwarded message ----------\n"
        "From: Vermieter <v@example.org>\nDate: Sat, Nov 21, 2026 at 10:00 AM\nSubject: Heizung\n"
        "To: Ben <ben@example.com>\n\nDie Heizung bleibt.\n"
    )
    assert strip(text) == text.strip()


def test_signature_and_mail_app_lines_go_but_sign_offs_stay():
    text = "Danke für die Infos.\n\nViele Grüße\nBen\n\n-- \nBen Sample\nBeispielweg 1\n"
    assert strip(text) == "Danke für die Infos.\n\nViele Grüße\nBen"
    assert strip("Passt so.\n\nVon meinem iPhone gesendet\n") == "Passt so."
    assert strip("Ok\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n") == "Ok"


def test_arrows_are_not_quotes():
    text = "Visit us now:\n>>> >>>  http://www.example.com <<<\nthanks"
    assert strip(text) == text


def test_when_nothing_would_be_left_the_text_is_kept_whole():
    text = "> only a quote\n> nothing else"
    assert strip(text) == text
    assert strip("") == "" and strip("   \n") == ""


# --- Never less than the answer, never slow --------------------------------------------------

_LINES = st.sampled_from(
    [
        "",
        "Danke für die Infos.",
        "- ein Punkt",
        "> quoted",
        ">> deeper",
        "On Sat, Nov 21, 2026 at 10:00 AM Anna <anna@example.org> wrote:",
        "Am 21.11.2026 um 10:00 schrieb Anna Berg <anna@example.org>:",
        "-----Original Message-----",
        "From: Anna <anna@example.org>",
        "Sent: Saturday, November 21, 2026 10:00",
        "---------- Forwarded message ----------",
        "-- ",
        "Sent from my iPhone",
        "2026年11月21日(土) 10:00 Anna <anna@example.org>:",
        "wrote:",
        "<",
    ]
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.one_of(_LINES, st.text(max_size=40)), max_size=25))
def test_stripping_only_ever_removes_lines(lines):
    """Whatever the input, the result is made of the input's own lines (or the text whole), and
    a text with something in it never comes back empty."""
    text = "\n".join(lines)
    stripped = strip(text)
    if text.strip():
        assert stripped
    source = {line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")}
    answer_prefixes = {line.rstrip(" -") for line in source}
    for line in stripped.split("\n"):
        assert line in source or line in answer_prefixes or stripped == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        " " * 100_000 + "x:",
        "a" * 100_000 + ":",
        "--" + "-" * 100_000 + " wrote",
        "\n".join(f"Punkt {n}: siehe unten:" for n in range(4000)),
        "\n".join(f"On {n} wrote 10:00 a@b.c" for n in range(4000)),
        "\n".join(("> " if n % 2 else "") + "x" * 80 for n in range(4000)),
        "." * 100_000 + "@a.b:",
    ],
)
def test_hostile_text_is_stripped_in_well_under_a_second(text):
    started = time.perf_counter()
    strip(text)
    assert time.perf_counter() - started < 1.0
