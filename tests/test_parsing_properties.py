"""Properties of the parsers over many generated inputs (hypothesis)."""

from datetime import date
from decimal import Decimal

from babel.numbers import format_currency, format_decimal
from hypothesis import given
from hypothesis import strategies as st

from actions.parsing import (
    choose_listed_option,
    interpret_plan_ask,
    looks_like_document_suffix,
    parse_amount,
    parse_date,
    parse_installments,
)

TODAY = date(2026, 11, 30)
LOCALES = {"pt_BR": "BRL", "es_ES": "EUR", "it_IT": "EUR", "en_US": "USD"}
# Words around a number that say nothing about it, in the four languages, and emoji.
FILLER = st.sampled_from(
    ["ok", "bom", "entao", "olha", "pues", "mira", "allora", "ecco", "well", "hmm", "look",
     "sure", "oi", "hola", "ciao", "hello", "🙏", "😅", "...", "!", "yes", "sim", "vale"]
)  # fmt: skip

amounts = st.integers(min_value=1, max_value=10**9)
locales = st.sampled_from(sorted(LOCALES))
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@given(amount=amounts, locale=locales)
def test_a_formatted_amount_with_its_currency_reads_back(amount, locale):
    text = format_currency(amount, LOCALES[locale], locale=locale)
    assert parse_amount(text) == Decimal(amount)


@given(amount=amounts, locale=locales)
def test_a_formatted_amount_without_currency_reads_back(amount, locale):
    assert parse_amount(format_decimal(amount, locale=locale)) == Decimal(amount)


@given(cents=st.integers(min_value=1, max_value=10**8), locale=locales)
def test_an_amount_with_cents_reads_back(cents, locale):
    value = Decimal(cents) / 100
    assert parse_amount(format_currency(value, LOCALES[locale], locale=locale)) == value


@given(day=dates)
def test_day_first_dates_read_back(day):
    assert parse_date(day.strftime("%d/%m/%Y"), today=TODAY) == day
    assert parse_date(f"{day.day}/{day.month}/{day.year}", today=TODAY) == day


@given(day=dates)
def test_month_first_dates_read_back(day):
    assert parse_date(day.strftime("%m/%d/%Y"), today=TODAY, month_first=True) == day
    assert parse_date(f"{day.month}/{day.day}/{day.year}", today=TODAY, month_first=True) == day


@given(
    number=st.integers(min_value=1, max_value=9999),
    before=st.lists(FILLER, max_size=4),
    after=st.lists(FILLER, max_size=4),
)
def test_a_number_among_filler_words_is_found(number, before, after):
    text = " ".join([*before, str(number), *after])
    assert parse_amount(text) == Decimal(number)
    expected = {"installments": number} if number <= 60 else {"monthly_amount": str(number)}
    assert interpret_plan_ask(text, {}) == expected


@given(data=st.data(), count=st.integers(min_value=1, max_value=9))
def test_a_listed_number_chooses_that_option(data, count):
    number = data.draw(st.integers(min_value=1, max_value=count))
    assert choose_listed_option(str(number), count) == number
    assert choose_listed_option(f"{number}\ufe0f\u20e3", count) == number  # keycap emoji


@given(count=st.integers(min_value=1, max_value=9), beyond=st.integers(min_value=1, max_value=50))
def test_a_number_beyond_the_options_chooses_none(count, beyond):
    assert choose_listed_option(str(count + beyond), count) is None


WORDS = st.sampled_from(
    ["12", "1.250,50", "2", "mil", "e", "de", "x", "dia", "15/12", "r$", "€", "$", "vezes",
     "due", "sei", "um", "a", "hundred", "thousand", "duemila", "-", "/", "?", "%", "k", "h",
     ":", "entrada", "down", "por", "mes", "the", "15th", "sexta", "que", "vem", "0", "00"]
)  # fmt: skip


@given(text=st.one_of(st.text(max_size=60), st.lists(WORDS, max_size=12).map(" ".join)))
def test_no_text_breaks_the_readers(text):
    interpret_plan_ask(text, {})
    parse_amount(text)
    parse_installments(text)
    parse_date(text, today=TODAY)
    parse_date(text, today=TODAY, month_first=True, past=True)
    choose_listed_option(text, 3)
    looks_like_document_suffix(text)
