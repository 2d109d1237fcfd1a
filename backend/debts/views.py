"""Routes about one of a verified debtor's debts: terms and everything negotiated on it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from pydantic import BaseModel

from backend.creditors.models import CreditorRead
from backend.db import SessionDep
from backend.debts import service as debts
from backend.deps import Now, OwnDebtDep, VerifiedDep
from backend.disputes import service as disputes
from backend.disputes.schemas import DisputeCreate, DisputeRead
from backend.money import to_decimal
from backend.payments import service as payments
from backend.payments.schemas import PaymentClaimCreate, PaymentClaimRead
from backend.plans import service as plans
from backend.plans.schemas import PlanAsk, PlanCreate, PlanRead, QuoteRead, plan_read
from backend.promises import service as promises
from backend.promises.schemas import PromiseCreate, PromiseRead, promise_read

router = APIRouter(prefix="/contacts/{channel}/{external_id}/debts/{reference}", tags=["debts"])


# The contractual terms of a debt and the limits of what can be negotiated on it.
class TermsRead(BaseModel):
    reference: str
    product: str
    currency: str
    outstanding: Decimal
    due_date: date
    late_interest_monthly_pct: Decimal
    late_fee_pct: Decimal
    creditor: CreditorRead
    max_installments: int
    min_installment: Decimal
    min_down_payment_pct: Decimal
    max_settlement_discount_pct: Decimal
    plan_interest_monthly_pct: Decimal
    max_days_to_first_payment: int


@router.get("/terms", response_model=TermsRead)
def terms(debt: OwnDebtDep, db_session: SessionDep) -> TermsRead:
    policy = debts.policy_for(db_session=db_session, debt=debt)
    return TermsRead(
        reference=debt.reference,
        product=debt.product,
        currency=debt.currency,
        outstanding=to_decimal(debt.outstanding_minor, debt.currency),
        due_date=debt.due_date,
        late_interest_monthly_pct=debt.late_interest_monthly_pct,
        late_fee_pct=debt.late_fee_pct,
        creditor=CreditorRead.model_validate(debt.creditor),
        max_installments=policy.max_installments,
        min_installment=to_decimal(policy.min_installment_minor, debt.currency),
        min_down_payment_pct=policy.min_down_payment_pct,
        max_settlement_discount_pct=policy.max_settlement_discount_pct,
        plan_interest_monthly_pct=policy.plan_interest_monthly_pct,
        max_days_to_first_payment=policy.max_days_to_first_payment,
    )


@router.post("/quotes", response_model=QuoteRead)
def quote(ask: PlanAsk, debt: OwnDebtDep, db_session: SessionDep, now: Now) -> QuoteRead:
    """What the policy allows for this ask: the plan, counter-offers, or a refusal."""
    return plans.quote(db_session=db_session, debt=debt, ask=ask, now=now)


@router.post(
    "/plans",
    response_model=PlanRead,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "a replay of an earlier request with the same key"}},
)
def accept_plan(
    request: PlanCreate,
    debt: OwnDebtDep,
    verified: VerifiedDep,
    db_session: SessionDep,
    now: Now,
    response: Response,
    idempotency_key: Annotated[str, Header(min_length=8, max_length=128)],
) -> PlanRead:
    """Agree a quoted plan exactly as quoted: its ask with its quote_id and fingerprint.

    409 `quote_changed` (with the plans offered now) when the balance or the policy moved
    since the quote; 422 `quote_required` without a quote; other 409s for the debt's state.
    """
    plan, created = plans.accept(
        db_session=db_session,
        debt=debt,
        request=request,
        idempotency_key=idempotency_key,
        channel=verified.contact.channel,
        now=now,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return plan_read(plan)


@router.post("/promises", response_model=PromiseRead, status_code=status.HTTP_201_CREATED)
def make_promise(
    promise: PromiseCreate,
    debt: OwnDebtDep,
    verified: VerifiedDep,
    db_session: SessionDep,
    now: Now,
) -> PromiseRead:
    created = promises.make(
        db_session=db_session,
        debt=debt,
        promise=promise,
        channel=verified.contact.channel,
        now=now,
    )
    return promise_read(created, debt.currency)


@router.post("/disputes", response_model=DisputeRead, status_code=status.HTTP_201_CREATED)
def open_dispute(
    dispute: DisputeCreate,
    debt: OwnDebtDep,
    verified: VerifiedDep,
    db_session: SessionDep,
    now: Now,
) -> DisputeRead:
    created = disputes.open_dispute(
        db_session=db_session,
        debt=debt,
        dispute=dispute,
        channel=verified.contact.channel,
        now=now,
        contact=verified.contact,
    )
    return DisputeRead(
        id=created.id,
        debt_reference=debt.reference,
        reason=created.reason,
        status=created.status,
        opened_at=created.opened_at,
    )


@router.post(
    "/payment-claims", response_model=PaymentClaimRead, status_code=status.HTTP_201_CREATED
)
def claim_already_paid(
    claim: PaymentClaimCreate,
    debt: OwnDebtDep,
    verified: VerifiedDep,
    db_session: SessionDep,
    now: Now,
) -> PaymentClaimRead:
    created = payments.claim_already_paid(
        db_session=db_session, debt=debt, claim=claim, channel=verified.contact.channel, now=now
    )
    return PaymentClaimRead(
        id=created.id,
        paid_on=created.paid_on,
        amount=None
        if created.amount_minor is None
        else to_decimal(created.amount_minor, debt.currency),
        receipt_reference=created.receipt_reference,
        status=created.status,
        created_at=created.created_at,
    )
