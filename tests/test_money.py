from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.money import InvalidAmount, split_evenly, to_decimal, to_minor


def test_amounts_convert_exactly_per_currency():
    assert to_minor("1234.56", "BRL") == 123456
    assert to_minor(Decimal("80"), "EUR") == 8000
    assert to_minor("1500", "JPY") == 1500
    assert to_decimal(123456, "BRL") == Decimal("1234.56")
    assert str(to_decimal(8000, "EUR")) == "80.00"


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.005", "BRL"), ("1.5", "JPY"), ("abc", "USD"), ("NaN", "EUR"), ("1", "XYZ")],
)
def test_amounts_that_cannot_be_exact_are_refused(amount, currency):
    with pytest.raises(InvalidAmount):
        to_minor(amount, currency)


@given(total=st.integers(0, 10**12), parts=st.integers(1, 400))
def test_split_evenly_sums_exactly_and_differs_by_at_most_one(total, parts):
    amounts = split_evenly(total, parts)

    assert sum(amounts) == total and len(amounts) == parts
    assert max(amounts) - min(amounts) <= 1
    assert amounts == sorted(amounts)
