"""Exact money: integer minor units per ISO 4217 currency.

Amounts are stored and computed as integers in the currency's minor unit (cents for BRL,
EUR and USD) so that sums are exact and a plan's installments always add up to its total.
Decimals appear only at the edges: parsing what a person or the action server sent, and
rendering a decimal string in API responses.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation

from babel.numbers import get_currency_precision, list_currencies

from backend.exceptions import InvalidRequest

SUPPORTED_CURRENCIES = frozenset(list_currencies())


class InvalidAmount(InvalidRequest):
    """An amount that cannot be represented exactly in its currency."""

    reason_code = "invalid_amount"


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of the currency's minor unit (2 for BRL, 0 for JPY)."""
    if currency not in SUPPORTED_CURRENCIES:
        raise InvalidAmount(f"unknown currency {currency!r}")
    return get_currency_precision(currency)


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """Convert a decimal amount to minor units, refusing sub-minor-unit precision."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise InvalidAmount(f"{amount!r} is not a number") from exc
    if not value.is_finite():
        raise InvalidAmount(f"{amount!r} is not a finite number")
    scaled = value.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(f"{amount} has more decimals than {currency} allows")
    return int(scaled)


def to_decimal(minor: int, currency: str) -> Decimal:
    """Minor units back to a decimal amount with the currency's exponent (12345 → 123.45)."""
    exponent = currency_exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def percent_of(minor: int, percent: Decimal, *, rounding: str = ROUND_HALF_EVEN) -> int:
    """`percent`% of an amount in minor units, rounded to a whole minor unit."""
    return int((Decimal(minor) * Decimal(percent) / 100).to_integral_value(rounding=rounding))


def percent_of_ceil(minor: int, percent: Decimal) -> int:
    """`percent`% of an amount, rounded up: for minimums a payer must reach."""
    return percent_of(minor, percent, rounding=ROUND_CEILING)


def percent_of_floor(minor: int, percent: Decimal) -> int:
    """`percent`% of an amount, rounded down: for maximums a creditor grants."""
    return percent_of(minor, percent, rounding=ROUND_FLOOR)


def split_evenly(total_minor: int, parts: int) -> list[int]:
    """Split a total into `parts` amounts that differ by at most one minor unit.

    The larger amounts come last, so the first installments are never above the later
    ones and the list always sums exactly to the total.
    """
    if parts < 1:
        raise ValueError("parts must be at least 1")
    base, remainder = divmod(total_minor, parts)
    return [base] * (parts - remainder) + [base + 1] * remainder
