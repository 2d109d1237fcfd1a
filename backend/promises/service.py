"""Promises to pay: made within the policy, kept by payments, broken when their day passes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.debtors.models import Debtor
from backend.debts import service as debts
from backend.debts.models import Debt, DebtStatus
from backend.enums import Actor, Channel
from backend.exceptions import Conflict, InvalidRequest, PolicyViolation
from backend.interactions.service import record
from backend.money import to_decimal, to_minor
from backend.negotiation.engine import ReasonCode
from backend.negotiation.reasons import REASON_MESSAGES
from backend.payments.models import Payment
from backend.promises.models import PromiseStatus, PromiseToPay
from backend.promises.schemas import PromiseCreate


def paid_so_far(*, db_session: Session, debt: Debt) -> int:
    query = select(func.coalesce(func.sum(Payment.amount_minor - Payment.overpaid_minor), 0))
    return db_session.scalar(query.where(Payment.debt_id == debt.id)) or 0


def make(
    *,
    db_session: Session,
    debt: Debt,
    promise: PromiseCreate,
    channel: Channel | None,
    now: datetime,
) -> PromiseToPay:
    amount_minor = to_minor(promise.amount, debt.currency)
    debts.lock_for_update(db_session=db_session, debt=debt)
    _refuse_by_state(db_session, debt)
    if amount_minor > debt.outstanding_minor:
        balance = to_decimal(debt.outstanding_minor, debt.currency)
        raise InvalidRequest(
            f"the promise is above the balance of {balance}",
            reason_code="amount_exceeds_balance",
        )
    policy = debts.policy_for(db_session=db_session, debt=debt).limits()
    today = debts.local_today(debt.debtor, now)
    if promise.promised_date < today:
        raise InvalidRequest(
            REASON_MESSAGES[ReasonCode.START_DATE_IN_PAST],
            reason_code=ReasonCode.START_DATE_IN_PAST.value,
        )
    latest = today + timedelta(days=policy.max_days_to_first_payment)
    if promise.promised_date > latest:
        raise PolicyViolation(
            REASON_MESSAGES[ReasonCode.FIRST_PAYMENT_TOO_LATE],
            reason_code=ReasonCode.FIRST_PAYMENT_TOO_LATE.value,
            latest_date=latest.isoformat(),
        )
    if debts.broken_promise_count(db_session=db_session, debt=debt) > policy.max_broken_promises:
        raise PolicyViolation(
            REASON_MESSAGES[ReasonCode.TOO_MANY_BROKEN_PROMISES],
            reason_code=ReasonCode.TOO_MANY_BROKEN_PROMISES.value,
        )
    created = PromiseToPay(
        debt_id=debt.id,
        amount_minor=amount_minor,
        paid_before_minor=paid_so_far(db_session=db_session, debt=debt),
        promised_date=promise.promised_date,
        status=PromiseStatus.ACTIVE,
        channel=channel,
    )
    db_session.add(created)
    db_session.flush()
    record(
        db_session=db_session,
        event="promise.made",
        actor=Actor.DEBTOR,
        debtor_id=debt.debtor_id,
        debt_id=debt.id,
        channel=channel,
        data={
            "promise_id": created.id,
            "amount_minor": amount_minor,
            "promised_date": promise.promised_date.isoformat(),
        },
    )
    db_session.commit()
    return created


def _refuse_by_state(db_session: Session, debt: Debt) -> None:
    debts.refuse_if_closed(debt)
    if debt.status is DebtStatus.DISPUTED:
        raise Conflict(
            REASON_MESSAGES[ReasonCode.DEBT_DISPUTED], reason_code=ReasonCode.DEBT_DISPUTED.value
        )
    if debts.active_plan(db_session=db_session, debt=debt) is not None:
        raise Conflict(
            REASON_MESSAGES[ReasonCode.PLAN_ALREADY_ACTIVE],
            reason_code=ReasonCode.PLAN_ALREADY_ACTIVE.value,
        )
    if debts.active_promise(db_session=db_session, debt=debt) is not None:
        raise Conflict(
            "the debt already has an active promise to pay", reason_code="promise_already_active"
        )


def settle_if_kept(*, db_session: Session, debt: Debt, now: datetime) -> PromiseToPay | None:
    """Mark the debt's active promise kept once payments since it reach its amount."""
    promise = debts.active_promise(db_session=db_session, debt=debt)
    if promise is None:
        return None
    paid_since = paid_so_far(db_session=db_session, debt=debt) - promise.paid_before_minor
    if paid_since >= promise.amount_minor or debt.outstanding_minor == 0:
        promise.status = PromiseStatus.KEPT
        promise.resolved_at = now
        record(
            db_session=db_session,
            event="promise.kept",
            actor=Actor.SYSTEM,
            debtor_id=debt.debtor_id,
            debt_id=debt.id,
            data={"promise_id": promise.id},
        )
        return promise
    return None


@dataclass(frozen=True)
class Resolution:
    """A promise this process marked kept or broken (another process's are not listed)."""

    promise_id: int
    debt_id: int
    debtor_id: int
    status: PromiseStatus


def resolve_due_batch(
    *, db_session: Session, timezone: str, today: date, now: datetime, batch_size: int = 500
) -> tuple[int, list[Resolution]]:
    """Resolve active promises of debtors in `timezone` whose day is before `today`.

    Kept when the payments since the promise reach its amount (or nothing is owed), else
    broken. Set-based: one query selects the batch with what was paid on each debt, one
    conditional UPDATE per outcome changes only promises still active, so two schedulers
    resolve each promise once. Returns how many were selected (0: none left) and what this
    call changed; records each change; does not commit.
    """
    paid = (
        select(
            Payment.debt_id,
            func.sum(Payment.amount_minor - Payment.overpaid_minor).label("paid_minor"),
        )
        .group_by(Payment.debt_id)
        .subquery()
    )
    rows = db_session.execute(
        select(
            PromiseToPay.id,
            PromiseToPay.debt_id,
            PromiseToPay.amount_minor,
            PromiseToPay.paid_before_minor,
            Debt.debtor_id,
            Debt.outstanding_minor,
            func.coalesce(paid.c.paid_minor, 0).label("paid_minor"),
        )
        .join(Debt, Debt.id == PromiseToPay.debt_id)
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .outerjoin(paid, paid.c.debt_id == PromiseToPay.debt_id)
        .where(
            PromiseToPay.status == PromiseStatus.ACTIVE,
            PromiseToPay.promised_date < today,
            Debtor.timezone == timezone,
        )
        .order_by(PromiseToPay.id)
        .limit(batch_size)
    ).all()
    outcome = {
        row.id: PromiseStatus.KEPT
        if row.paid_minor - row.paid_before_minor >= row.amount_minor or row.outstanding_minor == 0
        else PromiseStatus.BROKEN
        for row in rows
    }
    resolved = []
    by_id = {row.id: row for row in rows}
    for status in (PromiseStatus.KEPT, PromiseStatus.BROKEN):
        ids = [promise_id for promise_id, result in outcome.items() if result is status]
        if not ids:
            continue
        changed = db_session.scalars(
            update(PromiseToPay)
            .where(PromiseToPay.id.in_(ids), PromiseToPay.status == PromiseStatus.ACTIVE)
            .values(status=status, resolved_at=now)
            .returning(PromiseToPay.id)
            .execution_options(synchronize_session=False)
        ).all()
        for promise_id in sorted(changed):
            row = by_id[promise_id]
            resolved.append(Resolution(promise_id, row.debt_id, row.debtor_id, status))
            record(
                db_session=db_session,
                event=f"promise.{status.value}",
                actor=Actor.SYSTEM,
                debtor_id=row.debtor_id,
                debt_id=row.debt_id,
                data={"promise_id": promise_id},
            )
    db_session.flush()
    return len(rows), resolved


def break_overdue(*, db_session: Session, now: datetime) -> list[Resolution]:
    """Resolve every promise whose day has passed (and queue the broken ones' messages)."""
    from backend.campaigns import followup  # the follow-up owns the messages; it imports this

    return [
        resolution
        for resolution in followup.resolve_promises(db_session=db_session, now=now)
        if resolution.status is PromiseStatus.BROKEN
    ]
