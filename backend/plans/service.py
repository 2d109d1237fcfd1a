"""Quoting and agreeing payment plans: the engine decides, this module persists.

What is agreed is exactly what was quoted. Quotes are stateless: every proposal carries a
`fingerprint`, a sha256 over everything its numbers depend on (the debt, its outstanding
balance, the policy's id and version, the ask that reproduces the proposal, its rate and its
schedule), and a short `quote_id` taken from it. Agreeing a plan sends the ask back with both;
the backend decides again under the debt's lock and stores the plan only if the fingerprint is
the same, otherwise it answers 409 `quote_changed` with the plans it offers now. The digest
is not a secret: the backend never takes numbers from a client, it recomputes and compares.
A quote thus lasts as long as what it depends on: a payment, a policy change or, for plans
whose dates or interest depend on today, a new day makes it stale.
"""

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
from backend.ledger import service as ledger
from backend.negotiation.engine import (
    Decision,
    PlanProposal,
    ReasonCode,
    charged_monthly_pct,
    decide,
    request_for,
)
from backend.negotiation.models import NegotiationPolicy
from backend.negotiation.reasons import REASON_MESSAGES, STATE_REASONS
from backend.plans.models import Installment, PaymentPlan, PlanStatus
from backend.plans.schemas import (
    PlanAsk,
    PlanCreate,
    PlanProposalRead,
    QuoteRead,
    quote_id_of,
)
from backend.promises.models import PromiseStatus

QUOTE_CHANGED = "quote_changed"
# Refusals about the debt rather than the ask: reported as such even to a stale quote.
DEBT_REFUSALS = STATE_REASONS | {ReasonCode.TOO_MANY_BROKEN_PROMISES}


def quote(*, db_session: Session, debt: Debt, ask: PlanAsk, now: datetime) -> QuoteRead:
    if ledger.post_accruals(db_session=db_session, debt=debt, now=now):
        db_session.commit()  # quotes are made on today's balance, late interest posted
    policy = debts.policy_for(db_session=db_session, debt=debt)
    decision = _decide(db_session=db_session, debt=debt, policy=policy, ask=ask, now=now)
    return QuoteRead(
        outcome=decision.outcome,
        reason_code=decision.reason.value if decision.reason else None,
        message=REASON_MESSAGES.get(decision.reason) if decision.reason else None,
        plan=proposal_read(decision.plan, debt=debt, policy=policy) if decision.plan else None,
        counter_offers=_offers_read(decision.counter_offers, debt=debt, policy=policy),
    )


def proposal_read(
    proposal: PlanProposal, *, debt: Debt, policy: NegotiationPolicy
) -> PlanProposalRead:
    return PlanProposalRead.from_proposal(
        proposal,
        monthly_pct=charged_monthly_pct(proposal, policy.limits()),
        fingerprint=fingerprint(proposal, debt=debt, policy=policy),
    )


def fingerprint(proposal: PlanProposal, *, debt: Debt, policy: NegotiationPolicy) -> str:
    """A digest of everything the proposal's numbers depend on, and of the numbers."""
    canonical = {
        "debt": [debt.id, debt.reference, debt.outstanding_minor, debt.currency],
        "policy": [policy.id, policy.updated_at.isoformat() if policy.updated_at else None],
        "ask": PlanAsk.from_engine(request_for(proposal), proposal.currency).model_dump(
            mode="json"
        ),
        "kind": proposal.kind.value,
        "monthly_pct": str(charged_monthly_pct(proposal, policy.limits())),
        "amounts": [
            proposal.balance_minor,
            proposal.discount_minor,
            proposal.interest_minor,
            proposal.down_payment_minor,
            proposal.installment_count,
        ],
        "schedule": [
            [payment.due_date.isoformat(), payment.amount_minor, payment.is_down_payment]
            for payment in proposal.schedule
        ],
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def _offers_read(
    offers: tuple[PlanProposal, ...], *, debt: Debt, policy: NegotiationPolicy
) -> list[PlanProposalRead]:
    return [proposal_read(p, debt=debt, policy=policy) for p in offers]


def get_by_idempotency_key(*, db_session: Session, key: str) -> PaymentPlan | None:
    query = select(PaymentPlan).where(PaymentPlan.idempotency_key == key)
    return db_session.scalars(query).one_or_none()


def accept(
    *,
    db_session: Session,
    debt: Debt,
    request: PlanCreate,
    idempotency_key: str,
    channel: Channel | None,
    now: datetime,
) -> tuple[PaymentPlan, bool]:
    """Agree exactly the quoted plan, if it still stands; return it and whether it is new.

    The ask is decided again under the debt's lock; the plan is stored only when the result
    has the quote's fingerprint, else 409 `quote_changed` with the plans offered now.
    Repeating a request with the same idempotency key returns the plan it created. Two
    requests racing for one debt leave exactly one active plan: the debt row is locked, and
    a partial unique index refuses a second active plan even if that lock were bypassed.
    """
    request_fingerprint = _request_fingerprint(debt, request)
    existing = get_by_idempotency_key(db_session=db_session, key=idempotency_key)
    if existing is not None:
        return _replay(existing, request_fingerprint), False

    debts.lock_for_update(db_session=db_session, debt=debt)
    # Today's balance, late interest posted, is what today's quotes are made on (committed
    # now, so that a 409 below offers plans on it); opening the ledger before the plan
    # exists keeps the plan out of the opening statement.
    if ledger.post_accruals(db_session=db_session, debt=debt, now=now):
        db_session.commit()
        debts.lock_for_update(db_session=db_session, debt=debt)
    ledger.open_debt(db_session=db_session, debt=debt, now=now)
    policy = debts.policy_for(db_session=db_session, debt=debt)
    ask = request.ask()
    decision = _decide(db_session=db_session, debt=debt, policy=policy, ask=ask, now=now)
    if decision.reason in DEBT_REFUSALS:
        db_session.rollback()
        raise _debt_refusal(decision)
    if not request.fingerprint or not request.quote_id:
        db_session.rollback()
        raise InvalidRequest(
            "agree a plan from a quote: send its quote_id and fingerprint with its ask",
            reason_code="quote_required",
        )
    if request.quote_id != quote_id_of(request.fingerprint):
        db_session.rollback()
        raise InvalidRequest(
            "quote_id and fingerprint are not of the same quote", reason_code="quote_mismatch"
        )
    proposal = decision.plan
    if proposal is None or fingerprint(proposal, debt=debt, policy=policy) != request.fingerprint:
        offers = _current_offers(db_session=db_session, debt=debt, policy=policy, ask=ask, now=now)
        db_session.rollback()
        raise Conflict(
            "the balance or the policy changed since the quote: these are the plans offered now",
            reason_code=QUOTE_CHANGED,
            counter_offers=[offer.model_dump(mode="json") for offer in offers],
        )

    try:
        plan = store_agreed(
            db_session=db_session,
            debt=debt,
            policy=policy,
            proposal=proposal,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
            channel=channel,
            now=now,
            logged={"quote_id": request.quote_id},
        )
        db_session.commit()
    except IntegrityError as exc:
        db_session.rollback()
        raced = get_by_idempotency_key(db_session=db_session, key=idempotency_key)
        if raced is not None:
            return _replay(raced, request_fingerprint), False
        raise Conflict(
            REASON_MESSAGES[ReasonCode.PLAN_ALREADY_ACTIVE],
            reason_code=ReasonCode.PLAN_ALREADY_ACTIVE.value,
        ) from exc
    return plan, True


def store_agreed(
    *,
    db_session: Session,
    debt: Debt,
    policy: NegotiationPolicy,
    proposal: PlanProposal,
    idempotency_key: str,
    request_fingerprint: str,
    channel: Channel | None,
    now: datetime,
    logged: dict,
) -> PaymentPlan:
    """Store an agreed plan and put the debt in it; the log records it with `logged`.

    An active promise is superseded and the ledger posts the plan's interest and discount.
    The caller holds the debt's lock and commits; IntegrityError means the debt already has
    an active plan (the partial unique index).
    """
    plan = PaymentPlan(
        debt_id=debt.id,
        policy_id=policy.id,
        status=PlanStatus.ACTIVE,
        kind=proposal.kind,
        currency=proposal.currency,
        balance_minor=proposal.balance_minor,
        discount_minor=proposal.discount_minor,
        interest_minor=proposal.interest_minor,
        interest_monthly_pct=charged_monthly_pct(proposal, policy.limits()),
        down_payment_minor=proposal.down_payment_minor,
        installment_count=proposal.installment_count,
        total_minor=proposal.total_minor,
        idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
        channel=channel,
        created_at=now,
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
    debt.status = DebtStatus.IN_PLAN
    promise = debts.active_promise(db_session=db_session, debt=debt)
    if promise is not None:  # the plan supersedes the promise
        promise.status = PromiseStatus.CANCELLED
        promise.resolved_at = now
    db_session.flush()
    # While the plan runs, what is owed is what the plan says: its interest added, its
    # settlement discount granted (ledger entries). Payments then bring it to zero.
    ledger.post_plan_agreed(db_session=db_session, debt=debt, plan=plan, now=now)
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
            **logged,
        },
    )
    return plan


def _decide(
    *, db_session: Session, debt: Debt, policy: NegotiationPolicy, ask: PlanAsk, now: datetime
) -> Decision:
    return decide(
        position=debts.position(db_session=db_session, debt=debt),
        policy=policy.limits(),
        request=ask.to_engine(debt.currency),
        today=debts.local_today(debt.debtor, now),
    )


def _current_offers(
    *, db_session: Session, debt: Debt, policy: NegotiationPolicy, ask: PlanAsk, now: datetime
) -> list[PlanProposalRead]:
    """What the same ask gets now; a start date that has passed since the quote means today."""
    if ask.start_date and ask.start_date < debts.local_today(debt.debtor, now):
        ask = ask.model_copy(update={"start_date": None})
    decision = _decide(db_session=db_session, debt=debt, policy=policy, ask=ask, now=now)
    offers = (decision.plan,) if decision.plan else decision.counter_offers
    return _offers_read(offers, debt=debt, policy=policy)


def _debt_refusal(decision: Decision) -> Exception:
    """The debt cannot get any plan now, whatever was quoted."""
    reason = decision.reason
    if reason in STATE_REASONS:
        return Conflict(REASON_MESSAGES[reason], reason_code=reason.value)
    return PolicyViolation(REASON_MESSAGES[reason], reason_code=reason.value, counter_offers=[])


def _request_fingerprint(debt: Debt, request: PlanCreate) -> str:
    """What an idempotency key is bound to: the debt, the ask and the quote it agrees."""
    body = request.model_dump(mode="json")
    canonical = json.dumps({"debt": debt.reference, **body}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(plan: PaymentPlan, fingerprint: str) -> PaymentPlan:
    if plan.request_fingerprint != fingerprint:
        raise Conflict(
            "this idempotency key was used for a different request",
            reason_code="idempotency_key_reused",
        )
    return plan
