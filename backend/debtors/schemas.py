"""Response shapes for what a verified debtor sees."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from backend.creditors.models import CreditorRead
from backend.debts.models import DebtStatus
from backend.enums import Language
from backend.plans.schemas import PlanRead
from backend.promises.schemas import PromiseRead


# One debt as the debtor sees it; amounts in the debt's currency.
class DebtSummary(BaseModel):
    reference: str
    product: str
    creditor: CreditorRead
    currency: str
    principal: Decimal
    fees: Decimal
    interest: Decimal
    outstanding: Decimal
    due_date: date
    days_overdue: int
    status: DebtStatus
    payment_url: str | None
    active_plan: PlanRead | None
    active_promise: PromiseRead | None


# The verified debtor: never the whole document number.
class DebtorSummary(BaseModel):
    debtor_id: int
    first_name: str
    full_name: str
    masked_document: str
    country: str
    timezone: str
    preferred_language: Language
    today: date
    debts: list[DebtSummary]
