"""What debtors type, read the way they meant it, in the four languages."""

from datetime import date
from decimal import Decimal

import pytest

from actions.parsing import (
    choose_listed_option,
    interpret_plan_ask,
    looks_like_amount,
    looks_like_date,
    looks_like_document_suffix,
    month_first_for,
    parse_amount,
    parse_date,
    parse_installments,
)

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


# Bugs found with real debtor messages: each one read as the debtor meant it.
@pytest.mark.parametrize(
    ("text", "ask"),
    [
        ("I would really like 12 installments", {"installments": 12}),  # "real" is not reais
        ("six installments, what is due", {"installments": 6}),  # "due" is not Italian 2
        ("quitacao 500", {"lump_sum": "500"}),  # lump-sum words without accents
        ("2 mil", {"monthly_amount": "2000"}),  # not R$ 2,00
        ("dia 15 eu pago 300", {"monthly_amount": "300"}),  # the day is not money
    ],
)
def test_bugs_found_with_real_messages(text, ask):
    assert interpret_plan_ask(text, {}) == ask


def test_sabato_is_a_date():
    assert parse_date("sabato", today=MONDAY) == date(2026, 11, 28)
    assert parse_date("sábado", today=MONDAY) == date(2026, 11, 28)


@pytest.mark.parametrize(
    ("country", "expected"),
    [("US", True), ("us", True), ("PH", True), ("PR", True), ("GB", False), ("IE", False),
     ("BR", False), ("ES", False), ("IT", False), ("PT", False), ("AR", False), ("MX", False),
     ("CA", False), ("", False), (None, False)],
)  # fmt: skip
def test_day_month_order_follows_the_country_not_the_language(country, expected):
    assert month_first_for(country) is expected


def test_english_dates_in_ireland_are_day_first():
    said = "I paid on 03/04/2026"
    assert parse_date(said, today=MONDAY, month_first=month_first_for("IE")) == date(2026, 4, 3)
    assert parse_date(said, today=MONDAY, month_first=month_first_for("US")) == date(2026, 3, 4)


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("2 mil", "2000"),
        ("1.5k", "1500"),
        ("2k", "2000"),
        ("1,5 mil", "1500"),
        ("dois mil e quinhentos", "2500"),
        ("2 mil e 500", "2500"),
        ("duemila", "2000"),
        ("duemilacinquecento", "2500"),
        ("milleduecento", "1200"),
        ("mille", "1000"),
        ("mil quinientos", "1500"),
        ("two thousand five hundred", "2500"),
        ("a hundred", "100"),
        ("cento e vinte reais", "120"),
        ("ciento veinte euros", "120"),
        ("R$ 300", "300"),
        ("300 reais", "300"),
        ("300,00 €", "300.00"),
        ("€300", "300"),
        ("$300", "300"),
        ("300 dollars", "300"),
        ("300 euros", "300"),
        ("1.250,50", "1250.50"),
        ("1,250.50", "1250.50"),
        ("1250", "1250"),
        ("80,5", "80.5"),
    ],
)
def test_numbers_written_every_way(text, amount):
    assert parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("vinte e quatro", 24),
        ("veinticuatro", 24),
        ("ventiquattro", 24),
        ("ventuno rate", 21),
        ("twenty-four", 24),
        ("twenty four", 24),
        ("treinta y dos cuotas", 32),
        ("12 parcels", 12),
        ("12 instalments", 12),
        ("1 installment", 1),
        ("1 instalment", 1),
        ("8 coutas", 8),
        ("6 rata", 6),
        ("u can do 6 installments?", 6),
    ],
)
def test_counts_in_words_and_with_typos(text, count):
    assert parse_installments(text) == count


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("dia 15", None),
        ("on the 15th", None),
        ("15/12", None),
        ("em 12 vezes", None),
        ("50%", None),
        ("às 14h", None),
        ("dia 15 R$ 300", "300"),
        ("15/12 pago 200", "200"),
        ("em 12 vezes de 150", "150"),
        ("on the 15th I can pay 80", "80"),
        ("el 20 de diciembre pago 120 euros", "120"),
        ("devo 3000 mas posso pagar 150", "150"),
    ],
)
def test_amounts_ignore_days_dates_and_counts(text, amount):
    assert parse_amount(text) == (Decimal(amount) if amount else None)


@pytest.mark.parametrize("text", ["não sei", "what is due?", "all at once", "um acordo"])
def test_words_that_are_numbers_only_in_another_language(text):
    assert parse_amount(text) is None
    assert parse_installments(text) is None


def test_those_words_are_numbers_where_they_count_something():
    assert parse_installments("due rate") == 2
    assert parse_installments("dos cuotas") == 2
    assert parse_installments("sei rate") == 6
    assert parse_installments("once cuotas") == 11
    assert interpret_plan_ask("una rata da 500 euro", {}) == {"lump_sum": "500"}


@pytest.mark.parametrize(
    ("text", "ask"),
    [
        ("vc faz em 10x?", {"installments": 10}),
        ("q tal 300 pfv", {"monthly_amount": "300"}),
        ("entrada de 200 e o resto em 10x", {"installments": 10, "down_payment": "200"}),
        ("200 de entrada e 150 por mês", {"monthly_amount": "150", "down_payment": "200"}),
        ("anticipo di 200 e 12 rate", {"installments": 12, "down_payment": "200"}),
        ("200 down and 10 installments", {"installments": 10, "down_payment": "200"}),
        ("anticipo di 200", None),  # a down payment alone asks for no plan yet
        ("posso pagar 500 reais à vista?", {"lump_sum": "500"}),
        ("a vista 500", {"lump_sum": "500"}),
        ("al contado 900", {"lump_sum": "900"}),
        ("de una vez 900", {"lump_sum": "900"}),
        ("pago unico 900", {"lump_sum": "900"}),
        ("in un'unica soluzione 900", {"lump_sum": "900"}),
        ("900 in one go", {"lump_sum": "900"}),
        ("quero quitar em 12x", {"installments": 12}),  # settling in installments
        ("150 ao mes", {"monthly_amount": "150"}),
        ("150 mensais", {"monthly_amount": "150"}),
        ("150 /mes", {"monthly_amount": "150"}),
        ("150 mensuales", {"monthly_amount": "150"}),
        ("150 al mese", {"monthly_amount": "150"}),
        ("150 mensili", {"monthly_amount": "150"}),
        ("150 each month", {"monthly_amount": "150"}),
        ("20 a month", {"monthly_amount": "20"}),  # small, but monthly
        ("R$ 20", {"monthly_amount": "20"}),  # small, but money
        ("posso pagar 40", {"monthly_amount": "40"}),  # small, but offered
        ("Oi! Tudo bem? Posso pagar 200 por mês. Pode ser? Obrigado 🙏", {"monthly_amount": "200"}),
        ("0", None),
    ],
)
def test_plan_asks_with_abbreviations_down_payments_and_lump_sums(text, ask):
    assert interpret_plan_ask(text, {}) == ask


def test_the_nlu_entities_are_used_when_the_words_say_nothing():
    assert interpret_plan_ask("isso", {"amount": "150"}) == {"monthly_amount": "150"}
    assert interpret_plan_ask("isso", {"installments": "6"}) == {"installments": 6}
    assert interpret_plan_ask("isso", {}) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seg", date(2026, 11, 30)),  # never today: "seg" on a Monday is next Monday
        ("sex", date(2026, 11, 27)),
        ("sab", date(2026, 11, 28)),
        ("dom", date(2026, 11, 29)),
        ("lun", date(2026, 11, 30)),
        ("mié", date(2026, 11, 25)),
        ("jue", date(2026, 11, 26)),
        ("gio", date(2026, 11, 26)),
        ("ven", date(2026, 11, 27)),
        ("fri.", date(2026, 11, 27)),
        ("wed", date(2026, 11, 25)),
        ("quinta-feira", date(2026, 11, 26)),
        ("mercoledì", date(2026, 11, 25)),
        ("miércoles", date(2026, 11, 25)),
    ],
)
def test_weekday_names_and_abbreviations(text, expected):
    assert parse_date(text, today=MONDAY) == expected


def test_ambiguous_abbreviations_are_not_weekdays():
    # "mar" is Tuesday in es/it but also "sea" and March; "ter" is Tuesday in pt and "to have".
    assert parse_date("mar", today=MONDAY) is None
    assert parse_date("vou ter dinheiro", today=MONDAY) is None
    assert parse_date("15 mar", today=MONDAY) == date(2027, 3, 15)  # after a day it is March


def test_next_and_last_count_only_next_to_the_weekday():
    assert parse_date("last time I paid late, but friday is fine", today=MONDAY) == date(
        2026, 11, 27
    )


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1", 1),
        ("a 1", 1),
        ("opção 1", 1),
        ("opcao 1", 1),
        ("opcion 2", 2),
        ("la prima", 1),
        ("o primeiro", 1),
        ("the first one", 1),
        ("first", 1),
        ("option 2", 2),
        ("la seconda", 2),
        ("o segundo", 2),
        ("el segundo", 2),
        ("the second", 2),
        ("nº 2", 2),
        ("2️⃣", 2),
        ("1.", 1),
        ("quero a 2, por favor", 2),
        ("I'll take option 1 please", 1),
        ("sì, la prima grazie", 1),
        ("el último", 2),
        ("dois", 2),
        ("12 installments", None),
        ("150 a month", None),
        ("1x", None),
        ("3", None),
        ("0", None),
        ("1 ou 2", None),
        ("na segunda", None),  # "on Monday", not "the second"
        ("how do I know this is really you?", None),
    ],
)
def test_choosing_a_listed_option(text, number):
    assert choose_listed_option(text, 2) == number


@pytest.mark.parametrize(
    ("text", "suffix"),
    [
        ("8909", "8909"),
        ("678z", "678Z"),
        ("final 8909", "8909"),
        ("termina em 8909", "8909"),
        ("é 501Z", "501Z"),
        ("los últimos son 4521", "4521"),
        ("how do I know this is really you?", None),
        ("why do you need 4 digits?", None),
        ("12345678", None),
        ("sim", None),
        ("hmm deixa eu ver aqui 4521 acho que é isso", None),
    ],
)
def test_what_looks_like_a_document_suffix(text, suffix):
    assert looks_like_document_suffix(text, length_min=3, length_max=6) == suffix


def test_what_looks_like_an_amount_or_a_date():
    assert looks_like_amount("posso pagar 300?") == Decimal(300)  # an offer, asked
    assert looks_like_amount("quanto fica 300 em 10x?") is None  # a question
    assert looks_like_amount("não sei") is None
    assert looks_like_date("next friday?", today=MONDAY) == date(2026, 11, 27)
    assert looks_like_date("what happens if I pay on the 15th?", today=MONDAY) is None
    assert looks_like_date("03/04", today=MONDAY, month_first=True) == date(2027, 3, 4)
