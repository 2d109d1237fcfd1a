"""Quoting and agreeing payment plans: the engine decides, this module persists."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.debts import service as debts
from backend.debts.models import Debt, DebtStatus
from backend.enums import Actor, Channel
from backend.exceptions import Conflict, InvalidRequest, PolicyViolation
from backend.interactions.service import record
from backend.negotiation.engine import Decision, Outcome, ReasonCode, decide
from backend.negotiation.reasons import REASON_MESSAGES, STATE_REASONS
from backend.plans.models import Installment, PaymentPlan, PlanStatus
from backend.plans.schemas import PlanAsk, PlanProposalRead, QuoteRead
from backend.promises.models import PromiseStatus


def quote(*, db_session: Session, debt: Debt, ask: PlanAsk, now: datetime) -> QuoteRead:
    decision = _decide(db_session=db_session, debt=debt, ask=ask, now=now)
    return quote_read(decision)


def quote_read(decision: Decision) -> QuoteRead:
    return QuoteRead(
        outcome=decision.outcome,
        reason_code=decision.reason.value if decision.reason else None,
        message=REASON_MESSAGES.get(decision.reason) if decision.reason else None,
        plan=PlanProposalRead.from_proposal(decision.plan) if decision.plan else None,
        counter_offers=[PlanProposalRead.from_proposal(p) for p in decision.counter_offers],
    )


def get_by_idempotency_key(*, db_session: Session, key: str) -> PaymentPlan | None:
    query = select(PaymentPlan).where(PaymentPlan.idempotency_key == key)
    return db_session.scalars(query).one_or_none()


def accept(
    *,
    db_session: Session,
    debt: Debt,
    ask: PlanAsk,
    idempotency_key: str,
    channel: Channel | None,
    now: datetime,
) -> tuple[PaymentPlan, bool]:
    """Agree the plan asked for if the policy allows it exactly; return it and whether it is new.

    Repeating a request with the same idempotency key returns the plan it created. Two
    requests racing for one debt leave exactly one active plan: the debt row is locked, and
    a partial unique index refuses a second active plan even if that lock were bypassed.
    """
    fingerprint = _fingerprint(debt, ask)
    existing = get_by_idempotency_key(db_session=db_session, key=idempotency_key)
    if existing is not None:
        return _replay(existing, fingerprint), False

    debts.lock_for_update(db_session=db_session, debt=debt)
    decision = _decide(db_session=db_session, debt=debt, ask=ask, now=now)
    if decision.outcome is not Outcome.ACCEPTED:
        db_session.rollback()
        raise _rejection(decision)

    proposal = decision.plan
    policy = debts.policy_for(db_session=db_session, debt=debt)
    plan = PaymentPlan(
        debt_id=debt.id,
        policy_id=policy.id,
        status=PlanStatus.ACTIVE,
        kind=proposal.kind,
        currency=proposal.currency,
        balance_minor=proposal.balance_minor,
        discount_minor=proposal.discount_minor,
        interest_minor=proposal.interest_minor,
        interest_monthly_pct=policy.plan_interest_monthly_pct,
        down_payment_minor=proposal.down_payment_minor,
        installment_count=proposal.installment_count,
        total_minor=proposal.total_minor,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        channel=channel,
        installments=[
            Installment(
                sequence=index,
                is_down_payment=payment.is_down_payment,
                due_date=payment.due_date,
                amount_minor=payment.amount_minor,
                paid_minor=0,
            )
            for index, payment in enumerate(proposal.schedule, start=1)
        ],
    )
    db_session.add(plan)
    balance_before = debt.outstanding_minor
    # While the plan runs, what is owed is what the plan says: its interest added, its
    # settlement discount granted. Payments then bring this balance to zero.
    debt.outstanding_minor = proposal.total_minor
    debt.status = DebtStatus.IN_PLAN
    promise = debts.active_promise(db_session=db_session, debt=debt)
    if promise is not None:  # the plan supersedes the promise
        promise.status = PromiseStatus.CANCELLED
        promise.resolved_at = now
    try:
        db_session.flush()
        record(
            db_session=db_session,
            event="plan.accepted",
            actor=Actor.DEBTOR,
            debtor_id=debt.debtor_id,
            debt_id=debt.id,
            channel=channel,
            data={
                "plan_id": plan.id,
                "kind": plan.kind.value,
                "installments": plan.installment_count,
                "total_minor": plan.total_minor,
                "balance_before_minor": balance_before,
            },
        )
        db_session.commit()
    except IntegrityError as exc:
        db_session.rollback()
        raced = get_by_idempotency_key(db_session=db_session, key=idempotency_key)
        if raced is not None:
            return _replay(raced, fingerprint), False
        raise Conflict(
            REASON_MESSAGES[ReasonCode.PLAN_ALREADY_ACTIVE],
            reason_code=ReasonCode.PLAN_ALREADY_ACTIVE.value,
        ) from exc
    return plan, True


def _decide(*, db_session: Session, debt: Debt, ask: PlanAsk, now: datetime) -> Decision:
    policy = debts.policy_for(db_session=db_session, debt=debt)
    return decide(
        position=debts.position(db_session=db_session, debt=debt),
        policy=policy.limits(),
        request=ask.to_engine(debt.currency),
        today=debts.local_today(debt.debtor, now),
    )


def _rejection(decision: Decision) -> Exception:
    reason = decision.reason
    message = REASON_MESSAGES.get(reason, "not allowed by the negotiation policy")
    if reason in STATE_REASONS:
        return Conflict(message, reason_code=reason.value)
    if reason is ReasonCode.START_DATE_IN_PAST:
        return InvalidRequest(message, reason_code=reason.value)
    return PolicyViolation(
        message,
        reason_code=reason.value,
        counter_offers=[
            PlanProposalRead.from_proposal(p).model_dump(mode="json")
            for p in decision.counter_offers
        ],
    )


def _fingerprint(debt: Debt, ask: PlanAsk) -> str:
    canonical = json.dumps({"debt": debt.reference, **ask.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(plan: PaymentPlan, fingerprint: str) -> PaymentPlan:
    if plan.request_fingerprint != fingerprint:
        raise Conflict(
            "this idempotency key was used for a different request",
            reason_code="idempotency_key_reused",
        )
    return plan
