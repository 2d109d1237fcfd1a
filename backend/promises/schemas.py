"""Request and response shapes for promises to pay."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from backend.money import to_decimal
from backend.promises.models import PromiseStatus, PromiseToPay


# A debtor's promise: this amount by this date.
class PromiseCreate(BaseModel):
    amount: Decimal = Field(gt=0, max_digits=14)
    promised_date: date


class PromiseRead(BaseModel):
    id: int
    amount: Decimal
    currency: str
    promised_date: date
    status: PromiseStatus
    created_at: datetime


def promise_read(promise: PromiseToPay, currency: str) -> PromiseRead:
    return PromiseRead(
        id=promise.id,
        amount=to_decimal(promise.amount_minor, currency),
        currency=currency,
        promised_date=promise.promised_date,
        status=promise.status,
        created_at=promise.created_at,
    )
