"""Debts: lookups scoped to their debtor, negotiation position, row locking, payments due."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.debtors.models import Debtor
from backend.debts.models import Debt, DebtStatus
from backend.exceptions import Conflict, NotFound
from backend.negotiation.engine import DebtPosition
from backend.negotiation.models import NegotiationPolicy
from backend.plans.models import PaymentPlan, PlanStatus
from backend.promises.models import PromiseStatus, PromiseToPay

CLOSED_STATUSES = frozenset({DebtStatus.PAID, DebtStatus.WRITTEN_OFF})


def get_by_reference(*, db_session: Session, reference: str) -> Debt | None:
    return db_session.scalars(select(Debt).where(Debt.reference == reference)).one_or_none()


def get_for_debtor(*, db_session: Session, debtor: Debtor, reference: str) -> Debt:
    """The debtor's own debt; another person's debt is as unknown as a missing one."""
    debt = get_by_reference(db_session=db_session, reference=reference)
    if debt is None or debt.debtor_id != debtor.id:
        raise NotFound(f"no debt {reference!r} for this debtor", reason_code="debt_not_found")
    return debt


def lock_for_update(*, db_session: Session, debt: Debt) -> Debt:
    """Serialise writers on one debt, portably.

    An UPDATE takes the row lock on PostgreSQL and the write lock on SQLite; then the row
    is re-read as it now stands.
    """
    db_session.execute(
        update(Debt)
        .where(Debt.id == debt.id)
        .values(version=Debt.version + 1)
        .execution_options(synchronize_session=False)
    )
    db_session.refresh(debt)
    return debt


def local_today(debtor: Debtor, now: datetime) -> date:
    """Today in the debtor's time zone: due dates and plan starts are the debtor's days."""
    return now.astimezone(ZoneInfo(debtor.timezone)).date()


def active_plan(*, db_session: Session, debt: Debt) -> PaymentPlan | None:
    query = select(PaymentPlan).where(
        PaymentPlan.debt_id == debt.id, PaymentPlan.status == PlanStatus.ACTIVE
    )
    return db_session.scalars(query).one_or_none()


def active_promise(*, db_session: Session, debt: Debt) -> PromiseToPay | None:
    query = select(PromiseToPay).where(
        PromiseToPay.debt_id == debt.id, PromiseToPay.status == PromiseStatus.ACTIVE
    )
    return db_session.scalars(query).one_or_none()


def broken_promise_count(*, db_session: Session, debt: Debt) -> int:
    query = select(func.count()).where(
        PromiseToPay.debt_id == debt.id, PromiseToPay.status == PromiseStatus.BROKEN
    )
    return db_session.scalar(query) or 0


def position(*, db_session: Session, debt: Debt) -> DebtPosition:
    return DebtPosition(
        outstanding_minor=debt.outstanding_minor,
        currency=debt.currency,
        status=debt.status.value,
        broken_promises=broken_promise_count(db_session=db_session, debt=debt),
        has_active_plan=active_plan(db_session=db_session, debt=debt) is not None,
    )


def policy_for(*, db_session: Session, debt: Debt) -> NegotiationPolicy:
    query = select(NegotiationPolicy).where(
        NegotiationPolicy.creditor_id == debt.creditor_id,
        NegotiationPolicy.risk_segment == debt.debtor.risk_segment,
        NegotiationPolicy.currency == debt.currency,
    )
    policy = db_session.scalars(query).one_or_none()
    if policy is None:
        raise Conflict(
            "no negotiation policy covers this debt; a member of staff must handle it",
            reason_code="no_policy",
        )
    return policy


def refuse_if_closed(debt: Debt) -> None:
    if debt.status in CLOSED_STATUSES:
        raise Conflict(f"the debt is {debt.status.value}", reason_code=f"debt_{debt.status.value}")
