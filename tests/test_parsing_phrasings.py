"""Messages written the way debtors write them, one table per language.

The tables are in tests/parsing_phrasings/<language>.yml; each row gives the text and what
each reader must make of it. Dates are read against a fixed Monday.
"""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from actions.parsing import (
    choose_listed_option,
    interpret_plan_ask,
    month_first_for,
    parse_amount,
    parse_date,
    parse_installments,
)

TODAY = date(2026, 11, 30)  # a Monday
TABLES = Path(__file__).parent / "parsing_phrasings"
LANGUAGES = ("pt_BR", "es", "it", "en")
CHECKS = ("ask", "amount", "installments", "date", "option")


def table(language: str) -> list[dict]:
    return yaml.safe_load((TABLES / f"{language}.yml").read_text(encoding="utf-8"))


ROWS = [
    pytest.param(row, id=f"{language}: {row['text']}")
    for language in LANGUAGES
    for row in table(language)
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_has_at_least_40_phrasings(language):
    rows = table(language)
    assert len(rows) >= 40
    assert all(any(check in row for check in CHECKS) for row in rows)


@pytest.mark.parametrize("row", ROWS)
def test_phrasing_is_read_as_meant(row):
    text = row["text"]
    if "ask" in row:
        assert interpret_plan_ask(text, {}) == row["ask"]
    if "amount" in row:
        expected = None if row["amount"] is None else Decimal(row["amount"])
        assert parse_amount(text) == expected
    if "installments" in row:
        assert parse_installments(text) == row["installments"]
    if "date" in row:
        month_first = month_first_for(row.get("country"))
        found = parse_date(text, today=TODAY, month_first=month_first, past=row.get("past", False))
        assert found == row["date"]
    if "option" in row:
        assert choose_listed_option(text, row.get("options", 2)) == row["option"]
