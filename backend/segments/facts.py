"""Behaviour facts for the scorecard, gathered for a batch of debtors in a fixed set of queries.

One query each for the debtors, their debts, their plans, the installments of active plans,
promises, payments and channel contacts, however many debtors the batch holds; then plain
Python builds each debtor's `DebtorBehaviour`. Windows (promises, plans, payments) start at a
UTC midnight, so that runs on the same night see the same facts; days overdue count in the
debtor's own time zone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, case, func, or_, select
from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.debts.models import Debt, DebtStatus
from backend.payments.models import Payment
from backend.plans.models import Installment, PaymentPlan, PlanStatus
from backend.promises.models import PromiseStatus, PromiseToPay
from backend.segments import scorecard
from backend.segments.scorecard import Contactability, DebtorBehaviour, PlanStanding

# Debts still being collected; disputed ones are paused, paid and written-off ones closed.
OPEN_STATUSES = (DebtStatus.CURRENT, DebtStatus.OVERDUE, DebtStatus.IN_PLAN)
CLOSED_STATUSES = (DebtStatus.PAID, DebtStatus.WRITTEN_OFF)


@dataclass
class Gathered:
    """A batch's facts by debtor id: the stored figures, the behaviour, the debts' policy keys."""

    debtors: dict[int, Row]
    behaviours: dict[int, DebtorBehaviour]
    # (creditor_id, currency) of each debt not closed: a segment needs a policy for each.
    debt_keys: dict[int, set[tuple[int, str]]]


def gather(db_session: Session, ids: list[int], now: datetime, *, lock: str | None) -> Gathered:
    """The batch's behaviour facts; `lock` the debtors: "wait", "skip_locked", or None to read."""
    debtor_query = select(
        Debtor.id,
        Debtor.timezone,
        Debtor.email,
        Debtor.email_opted_out_at,
        Debtor.risk_segment,
        Debtor.risk_score,
        Debtor.pay_likelihood,
        Debtor.recovery_priority_minor,
    ).where(Debtor.id.in_(ids), Debtor.erased_at.is_(None))
    # PostgreSQL: a concurrent run skips the debtors this one is scoring (SQLite ignores it).
    if lock is not None:
        debtor_query = debtor_query.with_for_update(skip_locked=lock == "skip_locked", of=Debtor)
    debtors = {row.id: row for row in db_session.execute(debtor_query.order_by(Debtor.id))}
    ids = list(debtors)
    if not ids:
        return Gathered({}, {}, {})
    # Windows start at a UTC midnight, so that runs on the same night see the same facts.
    midnight = datetime.combine(now.astimezone(timezone.utc).date(), time(), tzinfo=timezone.utc)

    debts = db_session.execute(
        select(
            Debt.id,
            Debt.debtor_id,
            Debt.creditor_id,
            Debt.status,
            Debt.currency,
            Debt.outstanding_minor,
            Debt.due_date,
        ).where(Debt.debtor_id.in_(ids))
    ).all()

    plans = db_session.execute(
        select(PaymentPlan.id, PaymentPlan.debt_id, PaymentPlan.status, Debt.debtor_id)
        .join(Debt, Debt.id == PaymentPlan.debt_id)
        .where(
            Debt.debtor_id.in_(ids),
            or_(
                PaymentPlan.status == PlanStatus.ACTIVE,
                and_(
                    PaymentPlan.status.in_((PlanStatus.COMPLETED, PlanStatus.BROKEN)),
                    func.coalesce(PaymentPlan.ended_at, PaymentPlan.created_at)
                    >= midnight - timedelta(days=scorecard.PLAN_WINDOW_DAYS),
                ),
            ),
        )
    ).all()

    unpaid = Installment.paid_minor < Installment.amount_minor
    installments = db_session.execute(
        select(
            Installment.plan_id,
            func.min(case((unpaid, Installment.due_date))).label("oldest_unpaid"),
            func.count(case((and_(unpaid, Installment.late_since.is_not(None)), 1))).label("late"),
        )
        .join(PaymentPlan, PaymentPlan.id == Installment.plan_id)
        .join(Debt, Debt.id == PaymentPlan.debt_id)
        .where(Debt.debtor_id.in_(ids), PaymentPlan.status == PlanStatus.ACTIVE)
        .group_by(Installment.plan_id)
    ).all()

    promises = db_session.execute(
        select(Debt.debtor_id, PromiseToPay.status, func.count())
        .select_from(PromiseToPay)
        .join(Debt, Debt.id == PromiseToPay.debt_id)
        .where(
            Debt.debtor_id.in_(ids),
            PromiseToPay.status.in_((PromiseStatus.KEPT, PromiseStatus.BROKEN)),
            func.coalesce(PromiseToPay.resolved_at, PromiseToPay.created_at)
            >= midnight - timedelta(days=scorecard.PROMISE_WINDOW_DAYS),
        )
        .group_by(Debt.debtor_id, PromiseToPay.status)
    ).all()

    payments = db_session.execute(
        select(Debt.debtor_id, func.count())
        .select_from(Payment)
        .join(Debt, Debt.id == Payment.debt_id)
        .where(
            Debt.debtor_id.in_(ids),
            Payment.paid_at >= midnight - timedelta(days=scorecard.PAYMENT_WINDOW_DAYS),
        )
        .group_by(Debt.debtor_id)
    ).all()

    contacts = db_session.execute(
        select(
            ChannelContact.debtor_id, ChannelContact.opted_out_at, ChannelContact.last_inbound_at
        ).where(ChannelContact.debtor_id.in_(ids))
    ).all()

    return _assemble(debtors, debts, plans, installments, promises, payments, contacts, now)


def _assemble(debtors, debts, plans, installments, promises, payments, contacts, now):
    oldest_unpaid = {row.plan_id: row.oldest_unpaid for row in installments}
    late = {row.plan_id: row.late for row in installments}
    active_plan_of_debt: dict[int, int] = {}
    completed: dict[int, int] = defaultdict(int)
    broken: dict[int, int] = defaultdict(int)
    standing: dict[int, PlanStanding] = {}
    for plan in plans:
        if plan.status is PlanStatus.ACTIVE:
            active_plan_of_debt[plan.debt_id] = plan.id
            if late.get(plan.id):
                standing[plan.debtor_id] = PlanStanding.LATE
            else:
                standing.setdefault(plan.debtor_id, PlanStanding.GOOD_STANDING)
        elif plan.status is PlanStatus.COMPLETED:
            completed[plan.debtor_id] += 1
        else:
            broken[plan.debtor_id] += 1

    kept_promises: dict[int, int] = defaultdict(int)
    broken_promises: dict[int, int] = defaultdict(int)
    for debtor_id, status, count in promises:
        target = kept_promises if status is PromiseStatus.KEPT else broken_promises
        target[debtor_id] += count
    recent_payments = {debtor_id: count for debtor_id, count in payments}

    debts_of: dict[int, list] = defaultdict(list)
    for debt in debts:
        debts_of[debt.debtor_id].append(debt)
    contacts_of: dict[int, list] = defaultdict(list)
    for contact in contacts:
        contacts_of[contact.debtor_id].append(contact)

    utc_today = now.astimezone(timezone.utc).date()
    behaviours: dict[int, DebtorBehaviour] = {}
    debt_keys: dict[int, set[tuple[int, str]]] = {}
    for debtor_id, debtor in debtors.items():
        today = now.astimezone(ZoneInfo(debtor.timezone)).date()
        oldest = _oldest_open_debt(debts_of[debtor_id], active_plan_of_debt, oldest_unpaid)
        currency = oldest[1].currency if oldest else None
        balance = sum(
            debt.outstanding_minor
            for debt in debts_of[debtor_id]
            if debt.status in OPEN_STATUSES and debt.currency == currency
        )
        inbound = [c.last_inbound_at for c in contacts_of[debtor_id] if c.last_inbound_at]
        behaviours[debtor_id] = DebtorBehaviour(
            days_overdue=max((today - oldest[0]).days, 0) if oldest else 0,
            promises_kept=kept_promises[debtor_id],
            promises_broken=broken_promises[debtor_id],
            plans_completed=completed[debtor_id],
            plans_broken=broken[debtor_id],
            active_plan=standing.get(debtor_id, PlanStanding.NONE),
            payments_recent=recent_payments.get(debtor_id, 0),
            contactability=_contactability(debtor, contacts_of[debtor_id]),
            days_since_inbound=(
                max((utc_today - max(inbound).astimezone(timezone.utc).date()).days, 0)
                if inbound
                else None
            ),
            open_balance_minor=balance,
            currency=currency,
        )
        debt_keys[debtor_id] = {
            (debt.creditor_id, debt.currency)
            for debt in debts_of[debtor_id]
            if debt.status not in CLOSED_STATUSES
        }
    return Gathered(debtors, behaviours, debt_keys)


def _oldest_open_debt(debts, active_plan_of_debt, oldest_unpaid) -> tuple[date, Row] | None:
    """The open debt due first, with the date it counts as due.

    A debt in an active plan counts as due when its oldest unpaid installment is (a plan paid
    on time is not overdue); one whose installments are all paid counts as not due at all.
    """
    candidates = []
    for debt in debts:
        if debt.status not in OPEN_STATUSES:
            continue
        due = debt.due_date
        plan_id = active_plan_of_debt.get(debt.id)
        if plan_id is not None:
            due = oldest_unpaid.get(plan_id) or date.max
        candidates.append((due, debt.id, debt))
    if not candidates:
        return None
    due, _id, debt = min(candidates, key=lambda item: item[:2])
    return due, debt


def _contactability(debtor: Row, contacts: list) -> Contactability:
    if any(contact.opted_out_at is None for contact in contacts):
        return Contactability.BOUND_CHANNEL
    if debtor.email and debtor.email_opted_out_at is None:
        return Contactability.ADDRESS_ONLY
    if debtor.email_opted_out_at is not None or contacts:
        return Contactability.OPTED_OUT
    return Contactability.NONE_ON_FILE
