"""User-facing text and its formatting: Babel catalogs per language, money and dates per locale.

Every sentence a debtor reads comes from `locales/<language>/LC_MESSAGES/messages.po`, compiled
to `.mo` by `./run setup` (or `python -m locales compile`). Message ids are the English source
texts with named placeholders (`{amount}`, `{due_date}`); `translate` fills them in. Money stays
a Decimal plus an ISO currency until `format_money` renders it for the debtor's locale.

This package depends only on Babel, so the action server (Rasa environment) and the backend
(application environment) share it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache
from gettext import NullTranslations
from pathlib import Path

from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, format_decimal
from babel.numbers import format_percent as babel_format_percent
from babel.support import Translations

LOCALES_DIR = Path(__file__).resolve().parent
DOMAIN = "messages"
LANGUAGES = ("pt_BR", "es", "it", "en")
DEFAULT_LANGUAGE = "en"
# Conversation language → the Babel locale that formats numbers and dates for it.
FORMAT_LOCALES = {"pt_BR": "pt_BR", "es": "es_ES", "it": "it_IT", "en": "en_US"}


class MissingCatalog(RuntimeError):
    """The compiled catalog of a language is missing: run `./run setup`."""


def N_(message_id: str) -> str:
    """Mark a message id kept in a constant, for extraction; translated where it is said."""
    return message_id


def normalize_language(language: str | None) -> str:
    """One of LANGUAGES for any tag a channel or browser sends ("pt-BR", "es_AR", "it")."""
    if not language:
        return DEFAULT_LANGUAGE
    tag = language.replace("-", "_")
    if tag in LANGUAGES:
        return tag
    base = tag.split("_")[0].lower()
    if base == "pt":
        return "pt_BR"
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> NullTranslations:
    language = normalize_language(language)
    if language == "en":
        mo = LOCALES_DIR / "en" / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if not mo.exists():  # English is the source language: ids are the texts
            return NullTranslations()
    loaded = Translations.load(dirname=str(LOCALES_DIR), locales=[language], domain=DOMAIN)
    if not isinstance(loaded, Translations):
        raise MissingCatalog(f"no compiled catalog for {language}; run ./run setup")
    return loaded


def translate(language: str | None, message_id: str, **params: object) -> str:
    """The message in the language, with its named placeholders filled in."""
    text = translations(normalize_language(language)).gettext(message_id)
    return text.format(**params) if params else text


def translate_plural(
    language: str | None, singular: str, plural: str, count: int, **params: object
) -> str:
    text = translations(normalize_language(language)).ngettext(singular, plural, count)
    return text.format(count=count, **params)


def format_money(amount: Decimal, currency: str, language: str | None) -> str:
    """R$ 1.234,56 · 1.234,56 € · €1,234.56 · $1,234.56, as the debtor's locale writes it."""
    locale = FORMAT_LOCALES[normalize_language(language)]
    return format_currency(Decimal(amount), currency, locale=locale)


def format_day(day: date, language: str | None) -> str:
    """A due date as people write it: 12 de dezembro de 2026 · December 12, 2026."""
    return babel_format_date(
        day, format="long", locale=FORMAT_LOCALES[normalize_language(language)]
    )


def format_weekday_day(day: date, language: str | None) -> str:
    """A date a person agrees to: sexta-feira, 4 de dezembro de 2026 · Friday, December 4, 2026."""
    return babel_format_date(
        day, format="full", locale=FORMAT_LOCALES[normalize_language(language)]
    )


def format_number(number: Decimal | int, language: str | None) -> str:
    return format_decimal(number, locale=FORMAT_LOCALES[normalize_language(language)])


def format_percent(fraction: Decimal, language: str | None) -> str:
    """0.015 → 1,5% (pt-BR) · 1,5 % (es) · 1.5% (en)."""
    locale = FORMAT_LOCALES[normalize_language(language)]
    return babel_format_percent(fraction, locale=locale, decimal_quantization=False)
