"""Request and response shapes for plan quotes and accepted plans."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field, model_validator

from backend.money import to_decimal, to_minor
from backend.negotiation.engine import (
    Outcome,
    PlanKind,
    PlanProposal,
    PlanRequest,
    effective_annual_pct,
    request_for,
)
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

    @classmethod
    def from_engine(cls, request: PlanRequest, currency: str) -> PlanAsk:
        money = lambda minor: None if minor is None else to_decimal(minor, currency)  # noqa: E731
        return cls(
            installments=request.installments,
            monthly_amount=money(request.monthly_amount_minor),
            lump_sum=money(request.lump_sum_minor),
            down_payment=money(request.down_payment_minor),
            start_date=request.start_date,
        )


# Agreeing a quoted plan: the proposal's `ask`, with its `quote_id` and `fingerprint`.
class PlanCreate(PlanAsk):
    # Optional in the schema only so that a debt that cannot be negotiated at all is refused
    # with its own reason (409 debt_disputed...); otherwise missing means 422 quote_required.
    quote_id: str | None = Field(
        None, max_length=64, description="the quoted proposal's quote_id (required)"
    )
    fingerprint: str | None = Field(
        None, max_length=64, description="the quoted proposal's fingerprint (required)"
    )

    def ask(self) -> PlanAsk:
        return PlanAsk(**self.model_dump(exclude={"quote_id", "fingerprint"}))


def _minor(amount: Decimal | None, currency: str) -> int | None:
    return None if amount is None else to_minor(amount, currency)


def _rate(monthly_pct: Decimal) -> Decimal:
    """A monthly rate with the policy's three decimals, however it was stored or computed."""
    return Decimal(monthly_pct).quantize(Decimal("0.001"))


def quote_id_of(fingerprint: str) -> str:
    """The short handle of a quoted proposal, for logs and support: part of its fingerprint."""
    return "q_" + fingerprint[:16]


class ScheduledPaymentRead(BaseModel):
    sequence: int
    due_date: date
    amount: Decimal
    is_down_payment: bool
    paid: Decimal | None = None


# A plan the engine put forward (accepted or counter-offered), not yet agreed. `interest` is
# the total cost of the credit and `total` the total amount payable; `ask`, `quote_id` and
# `fingerprint` are what agreeing exactly this plan takes (POST …/plans).
class PlanProposalRead(BaseModel):
    quote_id: str
    fingerprint: str
    ask: PlanAsk
    kind: PlanKind
    currency: str
    balance: Decimal
    discount: Decimal
    interest: Decimal
    interest_monthly_pct: Decimal
    interest_annual_pct: Decimal = Field(description="effective: (1 + monthly)^12 − 1")
    down_payment: Decimal
    installment_count: int
    installment_amount: Decimal
    total: Decimal
    first_due_date: date
    last_due_date: date
    schedule: list[ScheduledPaymentRead]

    @classmethod
    def from_proposal(
        cls, plan: PlanProposal, *, monthly_pct: Decimal, fingerprint: str
    ) -> PlanProposalRead:
        money = lambda minor: to_decimal(minor, plan.currency)  # noqa: E731
        return cls(
            quote_id=quote_id_of(fingerprint),
            fingerprint=fingerprint,
            ask=PlanAsk.from_engine(request_for(plan), plan.currency),
            kind=plan.kind,
            currency=plan.currency,
            balance=money(plan.balance_minor),
            discount=money(plan.discount_minor),
            interest=money(plan.interest_minor),
            interest_monthly_pct=_rate(monthly_pct),
            interest_annual_pct=effective_annual_pct(monthly_pct),
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
    interest_annual_pct: Decimal
    down_payment: Decimal
    installment_count: int
    installment_amount: Decimal
    total: Decimal
    first_due_date: date
    last_due_date: date
    created_at: datetime
    schedule: list[ScheduledPaymentRead]


def plan_read(plan: PaymentPlan) -> PlanRead:
    money = lambda minor: to_decimal(minor, plan.currency)  # noqa: E731
    regular = [item.amount_minor for item in plan.installments if not item.is_down_payment]
    return PlanRead(
        id=plan.id,
        debt_reference=plan.debt.reference,
        status=plan.status,
        kind=plan.kind,
        currency=plan.currency,
        balance=money(plan.balance_minor),
        discount=money(plan.discount_minor),
        interest=money(plan.interest_minor),
        interest_monthly_pct=_rate(plan.interest_monthly_pct),
        interest_annual_pct=effective_annual_pct(plan.interest_monthly_pct),
        down_payment=money(plan.down_payment_minor),
        installment_count=plan.installment_count,
        installment_amount=money(max(regular, default=0)),
        total=money(plan.total_minor),
        first_due_date=plan.installments[0].due_date,
        last_due_date=plan.installments[-1].due_date,
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
