"""Every text a debtor can read exists in every language, with the same placeholders."""

import re
import subprocess
import sys
from decimal import Decimal

from babel.messages.pofile import read_po

from locales import LANGUAGES, LOCALES_DIR, format_money, translate
from locales.__main__ import KEYWORDS, problems

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalog(language):
    with open(LOCALES_DIR / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=language)


def test_no_language_misses_a_translation():
    assert problems() == []


def test_every_message_in_the_code_is_in_the_catalogs(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(LOCALES_DIR / "babel.cfg"),
            *KEYWORDS,
            "-o",
            str(pot),
            "actions",
            "backend",
            "locales",
        ],
        check=True,
        timeout=120,
        cwd=LOCALES_DIR.parent,
        capture_output=True,
    )
    with open(pot, "rb") as handle:
        in_code = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    for language in LANGUAGES:
        in_catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog(language) if m.id}
        assert in_code - in_catalog == set(), f"{language}: run python -m locales update"


def test_translations_keep_every_placeholder():
    for language in LANGUAGES:
        for message in catalog(language):
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            wanted = set(PLACEHOLDER.findall(ids[-1]))
            for string in strings:
                assert set(PLACEHOLDER.findall(string)) == wanted, (language, ids[0], string)


def test_the_same_message_reads_differently_in_each_language():
    texts = {language: translate(language, "Talk to a person") for language in LANGUAGES}
    assert len(set(texts.values())) == 4


def test_money_is_written_the_way_each_locale_writes_it():
    def plain(text):
        return text.replace("\xa0", " ").replace("\u202f", " ")

    amount = Decimal("1234.56")
    assert plain(format_money(amount, "BRL", "pt_BR")) == "R$ 1.234,56"
    assert plain(format_money(amount, "EUR", "it")) == "1.234,56 €"
    assert plain(format_money(amount, "EUR", "en")) == "€1,234.56"
    assert plain(format_money(amount, "USD", "en")) == "$1,234.56"
    assert plain(format_money(Decimal("12345.6"), "EUR", "es")) == "12.345,60 €"


def test_extraction_takes_calls_only_never_variables_or_subscripts(tmp_path):
    from locales.extraction import extract_calls

    source = tmp_path / "sample.py"
    source.write_text(
        "payloads.update(button['payload'] for button in buttons)\n"
        "phrase = say['draft']\n"
        "speaker.button('Pay now', '/pay')\n"
        "translate(language, 'Hello')\n"
        "speaker.say(message_id)\n"
    )
    keywords = {"button": (1,), "say": (1,), "phrase": (1,), "translate": (2,)}
    with open(source, "rb") as handle:
        found = [
            (line, name, args) for line, name, args, _ in extract_calls(handle, keywords, [], {})
        ]

    assert found == [(3, "button", ("Pay now", "/pay")), (4, "translate", (None, "Hello"))]
