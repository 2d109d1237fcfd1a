"""Payments: applied exactly once to the balance, the plan's installments and any promise.

A payment first brings the debt's late interest up to today (`backend.ledger`), then is
applied: a PAYMENT ledger entry for the part within the balance (the rest is an overpayment
the creditor refunds), installments paid in due-date order, the debt PAID and its plan
completed at zero, a promise kept once reached, and a thank-you queued in the outbox.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.debts import service as debts
from backend.debts.models import Debt, DebtStatus
from backend.enums import Actor, Channel
from backend.exceptions import Conflict, InvalidRequest, NotFound
from backend.gateway import outbox
from backend.gateway.models import MessageKind
from backend.interactions.service import record
from backend.ledger import service as ledger
from backend.money import to_minor
from backend.payments.models import ClaimStatus, Payment, PaymentClaim
from backend.payments.schemas import PaymentClaimCreate, PaymentCreate
from backend.plans.models import PaymentPlan, PlanStatus
from backend.promises import service as promises

# Who reported a payment, as the interaction log records it.
PAYMENT_PROVIDER = "payment_provider"


def get_by_external_id(*, db_session: Session, external_id: str) -> Payment | None:
    query = select(Payment).where(Payment.external_id == external_id)
    return db_session.scalars(query).one_or_none()


def record_payment(
    *, db_session: Session, payment: PaymentCreate, now: datetime, recorded_by: str
) -> tuple[Payment, Debt, bool]:
    """Apply a payment once; a repeat of the same external id returns the first one.

    `recorded_by` names the caller that reported it, in the interaction log.
    """
    existing = get_by_external_id(db_session=db_session, external_id=payment.external_id)
    if existing is not None:
        return *_replay(db_session, existing, payment), False
    debt = debts.get_by_reference(db_session=db_session, reference=payment.debt_reference)
    if debt is None:
        raise NotFound(f"no debt {payment.debt_reference!r}", reason_code="debt_not_found")
    if payment.currency != debt.currency:
        raise InvalidRequest(
            f"the debt is in {debt.currency}, not {payment.currency}",
            reason_code="currency_mismatch",
        )
    amount_minor = to_minor(payment.amount, debt.currency)

    debts.lock_for_update(db_session=db_session, debt=debt)
    # Interest up to today first: the balance paid against is today's.
    ledger.post_accruals(db_session=db_session, debt=debt, now=now)
    applied = min(amount_minor, debt.outstanding_minor)
    created = Payment(
        external_id=payment.external_id,
        debt_id=debt.id,
        amount_minor=amount_minor,
        overpaid_minor=amount_minor - applied,
        currency=debt.currency,
        paid_at=payment.paid_at,
        method=payment.method,
    )
    db_session.add(created)
    try:
        db_session.flush()
    except IntegrityError:  # the same external id, applied by a concurrent request
        db_session.rollback()
        existing = get_by_external_id(db_session=db_session, external_id=payment.external_id)
        return *_replay(db_session, existing, payment), False
    ledger.post_payment(
        db_session=db_session, debt=debt, payment=created, applied_minor=applied, now=now
    )
    plan = debts.active_plan(db_session=db_session, debt=debt)
    if plan is not None:
        _allocate_to_installments(plan, applied)
    if debt.outstanding_minor == 0:
        debt.status = DebtStatus.PAID
        if plan is not None:
            _complete(db_session, debt, plan, now)
    promises.settle_if_kept(db_session=db_session, debt=debt, now=now)
    record(
        db_session=db_session,
        event="payment.received",
        actor=Actor.SYSTEM,
        debtor_id=debt.debtor_id,
        debt_id=debt.id,
        data={
            "payment_id": created.id,
            "amount_minor": amount_minor,
            "overpaid_minor": created.overpaid_minor,
            "recorded_by": recorded_by,
        },
    )
    outbox.enqueue(
        db_session,
        dedupe_key=f"payment_thanks:{created.id}",
        kind=MessageKind.PAYMENT_THANKS,
        debtor_id=debt.debtor_id,
        debt_id=debt.id,
        scheduled_for=debts.local_today(debt.debtor, now),
        not_before=now,
        params={"payment_id": created.id},
        priority=debt.debtor.recovery_priority_minor or 0,
    )
    db_session.commit()
    return created, debt, True


def _complete(db_session: Session, debt: Debt, plan: PaymentPlan, now: datetime) -> None:
    plan.status = PlanStatus.COMPLETED
    plan.ended_at = now
    record(
        db_session=db_session,
        event="plan.completed",
        actor=Actor.SYSTEM,
        debtor_id=debt.debtor_id,
        debt_id=debt.id,
        data={"plan_id": plan.id},
    )


def _allocate_to_installments(plan: PaymentPlan, amount_minor: int) -> None:
    """Pay installments in due-date order (the debt's balance is the plan's total).

    An installment paid in full is no longer late.
    """
    remaining = amount_minor
    for installment in plan.installments:
        if remaining == 0:
            break
        due = installment.amount_minor - installment.paid_minor
        paid = min(due, remaining)
        installment.paid_minor += paid
        remaining -= paid
        if installment.is_paid:
            installment.late_since = None


def _replay(db_session: Session, existing: Payment, payment: PaymentCreate) -> tuple[Payment, Debt]:
    debt = db_session.get(Debt, existing.debt_id)
    same = (
        debt.reference == payment.debt_reference
        and existing.currency == payment.currency
        and existing.amount_minor == to_minor(payment.amount, existing.currency)
    )
    if not same:
        raise Conflict(
            "this external id was recorded for a different payment",
            reason_code="payment_external_id_reused",
        )
    return existing, debt


def claim_already_paid(
    *,
    db_session: Session,
    debt: Debt,
    claim: PaymentClaimCreate,
    channel: Channel | None,
    now: datetime,
) -> PaymentClaim:
    today = debts.local_today(debt.debtor, now)
    if claim.paid_on > today:
        raise InvalidRequest("the payment date is in the future", reason_code="date_in_future")
    amount_minor = None if claim.amount is None else to_minor(claim.amount, debt.currency)
    created = PaymentClaim(
        debt_id=debt.id,
        paid_on=claim.paid_on,
        amount_minor=amount_minor,
        receipt_reference=claim.receipt_reference,
        status=ClaimStatus.OPEN,
        channel=channel,
    )
    db_session.add(created)
    db_session.flush()
    record(
        db_session=db_session,
        event="payment_claim.opened",
        actor=Actor.DEBTOR,
        debtor_id=debt.debtor_id,
        debt_id=debt.id,
        channel=channel,
        data={"claim_id": created.id},
    )
    db_session.commit()
    return created
