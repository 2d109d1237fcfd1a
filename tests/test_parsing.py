"""What debtors type, read the way they meant it, in the four languages."""

from datetime import date
from decimal import Decimal

import pytest

from actions.parsing import interpret_plan_ask, parse_amount, parse_date, parse_installments

MONDAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("R$ 1.250,50", "1250.50"),
        ("posso pagar 150 reais por mês", "150"),
        ("€ 80,5", "80.5"),
        ("200€ al mes", "200"),
        ("$1,250.50", "1250.50"),
        ("120 dollars", "120"),
        ("1.250", "1250"),
        ("pago 99,90", "99.90"),
    ],
)
def test_amounts(text, amount):
    assert parse_amount(text) == Decimal(amount)


def test_no_amount_in_words():
    assert parse_amount("não sei quanto") is None


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("12", 12),
        ("10x", 10),
        ("em 12 vezes", 12),
        ("doze parcelas", 12),
        ("en 6 cuotas", 6),
        ("in 12 rate", 12),
        ("six installments", 6),
        ("R$ 150 em 10x", 10),
        ("tres", 3),
    ],
)
def test_installment_counts(text, count):
    assert parse_installments(text) == count


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hoje", date(2026, 11, 23)),
        ("amanhã", date(2026, 11, 24)),
        ("pasado mañana", date(2026, 11, 25)),
        ("sexta que vem", date(2026, 11, 27)),
        ("sexta-feira", date(2026, 11, 27)),
        ("el viernes que viene", date(2026, 11, 27)),
        ("venerdì prossimo", date(2026, 11, 27)),
        ("next Friday", date(2026, 11, 27)),
        ("segunda que vem", date(2026, 11, 30)),  # never today
        ("dia 15", date(2026, 12, 15)),  # the 15th has passed this month
        ("dia 30", date(2026, 11, 30)),
        ("el 20 de diciembre", date(2026, 12, 20)),
        ("20 dicembre", date(2026, 12, 20)),
        ("December 20", date(2026, 12, 20)),
        ("5 de janeiro", date(2027, 1, 5)),
        ("14/03/1988", date(1988, 3, 14)),
        ("14 de março de 1988", date(1988, 3, 14)),
        ("2026-12-01", date(2026, 12, 1)),
        ("em 10 dias", date(2026, 12, 3)),
        ("tra 2 settimane", date(2026, 12, 7)),
    ],
)
def test_dates_resolve_against_the_debtors_today(text, expected):
    assert parse_date(text, today=MONDAY) == expected


def test_us_dates_read_month_first_when_asked():
    assert parse_date("03/04/1990", today=MONDAY, month_first=True) == date(1990, 3, 4)
    assert parse_date("03/04/1990", today=MONDAY) == date(1990, 4, 3)


def test_impossible_or_missing_dates_are_none():
    assert parse_date("31/02/2027", today=MONDAY) is None
    assert parse_date("quando der", today=MONDAY) is None


def test_an_impossible_month_first_reading_falls_back_to_day_first():
    assert parse_date("14/03/1988", today=MONDAY, month_first=True) == date(1988, 3, 14)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14/03/88", date(1988, 3, 14)),
        ("14 de marzo de 1988", date(1988, 3, 14)),
        ("3 novembre 1980", date(1980, 11, 3)),
        ("Nov 2nd", date(2026, 11, 2)),
        ("ontem", date(2026, 11, 22)),
        ("sexta passada", date(2026, 11, 20)),
        ("last Friday", date(2026, 11, 20)),
        ("20/11", date(2026, 11, 20)),
        ("dia 20", date(2026, 11, 20)),
        ("il 2 dicembre", date(2025, 12, 2)),
    ],
)
def test_payment_dates_resolve_to_the_past(text, expected):
    assert parse_date(text, today=MONDAY, past=True) == expected


def test_a_year_of_two_digits_is_not_in_the_far_future():
    assert parse_date("12/9/84", today=MONDAY) == date(1984, 9, 12)
    assert parse_date("01/02/27", today=MONDAY) == date(2027, 2, 1)


@pytest.mark.parametrize(
    ("text", "entities", "ask"),
    [
        ("12", {"amount": "12"}, {"installments": 12}),
        ("em 10x", {}, {"installments": 10}),
        ("R$ 150 por mês", {}, {"monthly_amount": "150"}),
        ("posso pagar 50 por mês", {}, {"monthly_amount": "50"}),
        ("12 cuotas mensuales", {}, {"installments": 12}),
        ("150 reais", {"amount": "150"}, {"monthly_amount": "150"}),
        ("posso pagar 1.000 à vista", {}, {"lump_sum": "1000"}),
        ("I can settle with $900 in full", {}, {"lump_sum": "900"}),
    ],
)
def test_what_a_plan_request_asks_for(text, entities, ask):
    assert interpret_plan_ask(text, entities) == ask
