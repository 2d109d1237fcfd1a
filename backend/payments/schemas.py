"""Request and response shapes for payments and already-paid claims."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, Field

from backend.payments.models import ClaimStatus


# A payment reported by the creditor's payment provider.
class PaymentCreate(BaseModel):
    external_id: str = Field(min_length=1, max_length=128)
    debt_reference: str = Field(min_length=1, max_length=64)
    amount: Decimal = Field(gt=0, max_digits=14)
    currency: str = Field(pattern="^[A-Z]{3}$")
    paid_at: AwareDatetime
    method: str = Field("unknown", max_length=32)


class PaymentRead(BaseModel):
    id: int
    external_id: str
    debt_reference: str
    amount: Decimal
    overpaid: Decimal
    currency: str
    paid_at: datetime
    debt_outstanding: Decimal
    debt_status: str


# A debtor says they already paid.
class PaymentClaimCreate(BaseModel):
    paid_on: date
    amount: Decimal | None = Field(None, gt=0, max_digits=14)
    receipt_reference: str | None = Field(None, max_length=128)


class PaymentClaimRead(BaseModel):
    id: int
    paid_on: date
    amount: Decimal | None
    receipt_reference: str | None
    status: ClaimStatus
    created_at: datetime
