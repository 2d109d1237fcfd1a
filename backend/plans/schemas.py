"""Request and response shapes for plan quotes and accepted plans."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field, model_validator

from backend.money import to_decimal, to_minor
from backend.negotiation.engine import Outcome, PlanKind, PlanProposal, PlanRequest
from backend.plans.models import PaymentPlan, PlanStatus


# What a debtor asks for: one of installments, an affordable monthly amount or a lump sum.
class PlanAsk(BaseModel):
    installments: int | None = Field(None, ge=1, le=360)
    monthly_amount: Decimal | None = Field(None, gt=0, max_digits=14)
    lump_sum: Decimal | None = Field(None, gt=0, max_digits=14)
    down_payment: Decimal | None = Field(None, ge=0, max_digits=14)
    start_date: date | None = None

    @model_validator(mode="after")
    def exactly_one_ask(self) -> PlanAsk:
        asked = [self.installments, self.monthly_amount, self.lump_sum]
        if sum(value is not None for value in asked) != 1:
            raise ValueError("give exactly one of installments, monthly_amount or lump_sum")
        if self.lump_sum is not None and self.down_payment is not None:
            raise ValueError("a lump sum has no down payment")
        return self

    def to_engine(self, currency: str) -> PlanRequest:
        return PlanRequest(
            installments=self.installments,
            monthly_amount_minor=_minor(self.monthly_amount, currency),
            lump_sum_minor=_minor(self.lump_sum, currency),
            down_payment_minor=_minor(self.down_payment, currency),
            start_date=self.start_date,
        )


def _minor(amount: Decimal | None, currency: str) -> int | None:
    return None if amount is None else to_minor(amount, currency)


class ScheduledPaymentRead(BaseModel):
    sequence: int
    due_date: date
    amount: Decimal
    is_down_payment: bool
    paid: Decimal | None = None


# A plan the engine put forward (accepted or counter-offered), not yet agreed.
class PlanProposalRead(BaseModel):
    kind: PlanKind
    currency: str
    balance: Decimal
    discount: Decimal
    interest: Decimal
    down_payment: Decimal
    installment_count: int
    installment_amount: Decimal
    total: Decimal
    first_due_date: date
    last_due_date: date
    schedule: list[ScheduledPaymentRead]

    @classmethod
    def from_proposal(cls, plan: PlanProposal) -> PlanProposalRead:
        money = lambda minor: to_decimal(minor, plan.currency)  # noqa: E731
        return cls(
            kind=plan.kind,
            currency=plan.currency,
            balance=money(plan.balance_minor),
            discount=money(plan.discount_minor),
            interest=money(plan.interest_minor),
            down_payment=money(plan.down_payment_minor),
            installment_count=plan.installment_count,
            installment_amount=money(plan.installment_minor),
            total=money(plan.total_minor),
            first_due_date=plan.first_due_date,
            last_due_date=plan.last_due_date,
            schedule=[
                ScheduledPaymentRead(
                    sequence=index,
                    due_date=payment.due_date,
                    amount=money(payment.amount_minor),
                    is_down_payment=payment.is_down_payment,
                )
                for index, payment in enumerate(plan.schedule, start=1)
            ],
        )


# The engine's answer to a quote request.
class QuoteRead(BaseModel):
    outcome: Outcome
    reason_code: str | None
    message: str | None
    plan: PlanProposalRead | None
    counter_offers: list[PlanProposalRead]


# An agreed plan as stored, with what has been paid of each installment.
class PlanRead(BaseModel):
    id: int
    debt_reference: str
    status: PlanStatus
    kind: PlanKind
    currency: str
    balance: Decimal
    discount: Decimal
    interest: Decimal
    interest_monthly_pct: Decimal
    down_payment: Decimal
    installment_count: int
    total: Decimal
    created_at: datetime
    schedule: list[ScheduledPaymentRead]


def plan_read(plan: PaymentPlan) -> PlanRead:
    money = lambda minor: to_decimal(minor, plan.currency)  # noqa: E731
    return PlanRead(
        id=plan.id,
        debt_reference=plan.debt.reference,
        status=plan.status,
        kind=plan.kind,
        currency=plan.currency,
        balance=money(plan.balance_minor),
        discount=money(plan.discount_minor),
        interest=money(plan.interest_minor),
        interest_monthly_pct=plan.interest_monthly_pct,
        down_payment=money(plan.down_payment_minor),
        installment_count=plan.installment_count,
        total=money(plan.total_minor),
        created_at=plan.created_at,
        schedule=[
            ScheduledPaymentRead(
                sequence=item.sequence,
                due_date=item.due_date,
                amount=money(item.amount_minor),
                is_down_payment=item.is_down_payment,
                paid=money(item.paid_minor),
            )
            for item in plan.installments
        ],
    )
