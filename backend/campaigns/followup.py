"""Follow-up of what debtors agreed: promises kept or broken, installments late, plans ending.

`run` is called every minute by the scheduler; it is idempotent and safe with several
schedulers at once: rows are selected set-based and in batches, every state change is a
conditional UPDATE (… WHERE status = 'active' RETURNING id) so only one process makes it
(and records it in the interaction log), and every message goes through the outbox with its
dedupe key. Days are each debtor's local days, computed per time zone.

(a) The day after a promised date: kept if the payments since the promise reach its amount,
    else broken → PROMISE_BROKEN (the cadence then resumes: the gate no longer suppresses).
(b) An installment still unpaid `installment_grace_days` after its due date is late from the
    next day (`late_since`) → INSTALLMENT_LATE. With `max_late_installments` late (unpaid)
    installments the plan is BROKEN and the debt returns to collection (overdue) with the
    remaining balance → PLAN_BROKEN (instead of that installment's late notice).
(c) An active plan whose installments are all paid is COMPLETED; the debt is PAID (or, should
    a balance remain, back in collection).
(d) The day before a promised date or an installment's due date: PROMISE_DUE /
    INSTALLMENT_DUE, not before that day's contact window opens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Exists, String, cast, exists, func, literal, select, update
from sqlalchemy.orm import Session

from backend.campaigns import contact_rules, gate
from backend.debtors.models import Debtor
from backend.debts.models import Debt, DebtStatus
from backend.enums import Actor
from backend.gateway import outbox
from backend.gateway.models import MessageKind, OutboxMessage
from backend.interactions.service import record
from backend.negotiation.models import NegotiationPolicy
from backend.plans.models import Installment, PaymentPlan, PlanStatus
from backend.promises import service as promises
from backend.promises.models import PromiseStatus, PromiseToPay

log = logging.getLogger(__name__)
ONE_DAY = timedelta(days=1)


@dataclass
class FollowUpReport:
    """What this run changed and queued (another scheduler's changes are not counted)."""

    promises_kept: int = 0
    promises_broken: int = 0
    installments_late: int = 0
    plans_broken: int = 0
    plans_completed: int = 0
    reminders_queued: int = 0


def run(db_session: Session, now: datetime, *, batch_size: int = 500) -> FollowUpReport:
    report = FollowUpReport()
    for resolution in resolve_promises(db_session=db_session, now=now, batch_size=batch_size):
        if resolution.status is PromiseStatus.KEPT:
            report.promises_kept += 1
        else:
            report.promises_broken += 1
    late, broken = _late_installments(db_session, now, batch_size)
    report.installments_late += late
    report.plans_broken += broken
    report.plans_completed += _complete_paid_plans(db_session, now, batch_size)
    report.reminders_queued += _day_before_reminders(db_session, now, batch_size)
    if any(vars(report).values()):
        log.info("follow-up: %s", report)
    return report


def local_todays(db_session: Session, now: datetime) -> dict[str, date]:
    """Each debtors' time zone in use, with its local date at `now`."""
    zones = db_session.scalars(select(Debtor.timezone).distinct()).all()
    return {zone: now.astimezone(ZoneInfo(zone)).date() for zone in zones}


# --- (a) promises -----------------------------------------------------------------------


def resolve_promises(
    *, db_session: Session, now: datetime, batch_size: int = 500
) -> list[promises.Resolution]:
    """Resolve every promise whose day has passed; queue PROMISE_BROKEN for broken ones."""
    resolved: list[promises.Resolution] = []
    for zone, today in local_todays(db_session, now).items():
        while True:
            selected, batch = promises.resolve_due_batch(
                db_session=db_session, timezone=zone, today=today, now=now, batch_size=batch_size
            )
            if not selected:
                break
            broken = [r for r in batch if r.status is PromiseStatus.BROKEN]
            outbox.enqueue_many(
                db_session,
                [
                    _message(
                        f"promise_broken:{r.promise_id}",
                        MessageKind.PROMISE_BROKEN,
                        r.debtor_id,
                        r.debt_id,
                        today,
                        now,
                        {"promise_id": r.promise_id},
                    )
                    for r in broken
                ],
            )
            db_session.commit()
            resolved.extend(batch)
    return resolved


# --- (b) late installments and broken plans ---------------------------------------------


def _late_installments(db_session: Session, now: datetime, batch_size: int) -> tuple[int, int]:
    late_count = broken_count = 0
    for zone, today in local_todays(db_session, now).items():
        after = 0
        while True:
            # Batches of whole plans, so that a plan's installments late together are judged
            # together (a plan broken by them gets one message, not a late notice each).
            overdue = exists().where(
                Installment.plan_id == PaymentPlan.id,
                Installment.late_since.is_(None),
                Installment.paid_minor < Installment.amount_minor,
                Installment.due_date < today,
            )
            plan_ids = db_session.scalars(
                select(PaymentPlan.id)
                .join(Debt, Debt.id == PaymentPlan.debt_id)
                .join(Debtor, Debtor.id == Debt.debtor_id)
                .where(
                    PaymentPlan.status == PlanStatus.ACTIVE,
                    PaymentPlan.id > after,
                    Debtor.timezone == zone,
                    overdue,
                )
                .order_by(PaymentPlan.id)
                .limit(batch_size)
            ).all()
            if not plan_ids:
                break
            after = plan_ids[-1]
            rows = db_session.execute(
                select(
                    Installment.id,
                    Installment.due_date,
                    PaymentPlan.id.label("plan_id"),
                    Debt.id.label("debt_id"),
                    Debt.debtor_id,
                    NegotiationPolicy.installment_grace_days,
                )
                .join(PaymentPlan, PaymentPlan.id == Installment.plan_id)
                .join(NegotiationPolicy, NegotiationPolicy.id == PaymentPlan.policy_id)
                .join(Debt, Debt.id == PaymentPlan.debt_id)
                .where(
                    Installment.plan_id.in_(plan_ids),
                    Installment.late_since.is_(None),
                    Installment.paid_minor < Installment.amount_minor,
                    Installment.due_date < today,
                )
                .order_by(Installment.id)
            ).all()
            # Late from the day after the grace days, whenever this runs.
            late_since = {
                row.id: row.due_date + timedelta(days=row.installment_grace_days) + ONE_DAY
                for row in rows
            }
            now_late = [row for row in rows if late_since[row.id] <= today]
            marked = _mark_late(db_session, late_since, [row.id for row in now_late])
            plans_broken = _break_plans(db_session, now, {row.plan_id for row in now_late})
            messages = []
            for row in now_late:
                if row.id not in marked:
                    continue
                record(
                    db_session=db_session,
                    event="installment.late",
                    actor=Actor.SYSTEM,
                    debtor_id=row.debtor_id,
                    debt_id=row.debt_id,
                    data={"installment_id": row.id, "plan_id": row.plan_id},
                )
                if row.plan_id not in plans_broken:  # the broken plan's message says it all
                    messages.append(
                        _message(
                            f"installment_late:{row.id}",
                            MessageKind.INSTALLMENT_LATE,
                            row.debtor_id,
                            row.debt_id,
                            today,
                            now,
                            {"installment_id": row.id},
                        )
                    )
            for plan_id, (debt_id, debtor_id) in plans_broken.items():
                messages.append(
                    _message(
                        f"plan_broken:{plan_id}",
                        MessageKind.PLAN_BROKEN,
                        debtor_id,
                        debt_id,
                        today,
                        now,
                        {"plan_id": plan_id},
                    )
                )
            outbox.enqueue_many(db_session, messages)
            db_session.commit()
            late_count += len(marked)
            broken_count += len(plans_broken)
    return late_count, broken_count


def _mark_late(db_session: Session, late_since: dict[int, date], ids: list[int]) -> set[int]:
    """Set `late_since` on those still unpaid and not late; return the ids this call set."""
    by_day: dict[date, list[int]] = {}
    for installment_id in ids:
        by_day.setdefault(late_since[installment_id], []).append(installment_id)
    marked: set[int] = set()
    for day, day_ids in by_day.items():
        marked.update(
            db_session.scalars(
                update(Installment)
                .where(
                    Installment.id.in_(day_ids),
                    Installment.late_since.is_(None),
                    Installment.paid_minor < Installment.amount_minor,
                )
                .values(late_since=day)
                .returning(Installment.id)
                .execution_options(synchronize_session=False)
            ).all()
        )
    return marked


def _break_plans(
    db_session: Session, now: datetime, plan_ids: set[int]
) -> dict[int, tuple[int, int]]:
    """Break the active plans among `plan_ids` with too many late installments.

    The debt returns to collection with what is left unpaid (its balance, which the ledger
    already explains); late interest resumes the day after. Returns {plan: (debt, debtor)}
    for the plans this call broke.
    """
    if not plan_ids:
        return {}
    late = (
        select(func.count())
        .where(
            Installment.plan_id == PaymentPlan.id,
            Installment.late_since.is_not(None),
            Installment.paid_minor < Installment.amount_minor,
        )
        .correlate(PaymentPlan)
        .scalar_subquery()
    )
    candidates = db_session.scalars(
        select(PaymentPlan.id)
        .join(NegotiationPolicy, NegotiationPolicy.id == PaymentPlan.policy_id)
        .where(
            PaymentPlan.id.in_(plan_ids),
            PaymentPlan.status == PlanStatus.ACTIVE,
            late >= NegotiationPolicy.max_late_installments,
        )
    ).all()
    if not candidates:
        return {}
    broken = db_session.execute(
        update(PaymentPlan)
        .where(PaymentPlan.id.in_(candidates), PaymentPlan.status == PlanStatus.ACTIVE)
        .values(status=PlanStatus.BROKEN, ended_at=now)
        .returning(PaymentPlan.id, PaymentPlan.debt_id)
        .execution_options(synchronize_session=False)
    ).all()
    result = {}
    for plan_id, debt_id in sorted(broken):
        debt = db_session.get(Debt, debt_id, populate_existing=True)
        _return_to_collection(db_session, debt)
        remaining = debt.outstanding_minor
        record(
            db_session=db_session,
            event="plan.broken",
            actor=Actor.SYSTEM,
            debtor_id=debt.debtor_id,
            debt_id=debt.id,
            data={"plan_id": plan_id, "remaining_minor": remaining},
        )
        result[plan_id] = (debt.id, debt.debtor_id)
    db_session.flush()
    return result


def _return_to_collection(db_session: Session, debt: Debt) -> None:
    """In plan → overdue; a disputed debt will return to overdue when its dispute ends."""
    db_session.execute(
        update(Debt)
        .where(Debt.id == debt.id, Debt.status == DebtStatus.IN_PLAN)
        .values(status=DebtStatus.OVERDUE, version=Debt.version + 1)
        .execution_options(synchronize_session=False)
    )
    db_session.execute(
        update(Debt)
        .where(Debt.id == debt.id, Debt.status_before_dispute == DebtStatus.IN_PLAN)
        .values(status_before_dispute=DebtStatus.OVERDUE, version=Debt.version + 1)
        .execution_options(synchronize_session=False)
    )
    db_session.refresh(debt)


# --- (c) completed plans ----------------------------------------------------------------


def _complete_paid_plans(db_session: Session, now: datetime, batch_size: int) -> int:
    unpaid = exists().where(
        Installment.plan_id == PaymentPlan.id, Installment.paid_minor < Installment.amount_minor
    )
    completed = 0
    while True:
        candidates = db_session.scalars(
            select(PaymentPlan.id)
            .where(PaymentPlan.status == PlanStatus.ACTIVE, ~unpaid)
            .order_by(PaymentPlan.id)
            .limit(batch_size)
        ).all()
        if not candidates:
            return completed
        done = db_session.execute(
            update(PaymentPlan)
            .where(PaymentPlan.id.in_(candidates), PaymentPlan.status == PlanStatus.ACTIVE)
            .values(status=PlanStatus.COMPLETED, ended_at=now)
            .returning(PaymentPlan.id, PaymentPlan.debt_id)
            .execution_options(synchronize_session=False)
        ).all()
        for plan_id, debt_id in sorted(done):
            debt = db_session.get(Debt, debt_id, populate_existing=True)
            status = DebtStatus.PAID if debt.outstanding_minor == 0 else DebtStatus.OVERDUE
            db_session.execute(
                update(Debt)
                .where(Debt.id == debt_id, Debt.status == DebtStatus.IN_PLAN)
                .values(status=status, version=Debt.version + 1)
                .execution_options(synchronize_session=False)
            )
            record(
                db_session=db_session,
                event="plan.completed",
                actor=Actor.SYSTEM,
                debtor_id=debt.debtor_id,
                debt_id=debt_id,
                data={"plan_id": plan_id, "remaining_minor": debt.outstanding_minor},
            )
        db_session.commit()
        completed += len(done)


# --- (d) the reminder the day before ----------------------------------------------------


def _day_before_reminders(db_session: Session, now: datetime, batch_size: int) -> int:
    queued = 0
    rules: dict[str, gate.ContactRuleFacts] = {}
    for zone, today in local_todays(db_session, now).items():
        tomorrow = today + ONE_DAY
        promise_rows = db_session.execute(
            select(PromiseToPay.id, Debt.id.label("debt_id"), Debtor)
            .join(Debt, Debt.id == PromiseToPay.debt_id)
            .join(Debtor, Debtor.id == Debt.debtor_id)
            .where(
                PromiseToPay.status == PromiseStatus.ACTIVE,
                PromiseToPay.promised_date == tomorrow,
                Debtor.timezone == zone,
                ~_queued("promise_due:", PromiseToPay.id),
            )
        ).all()
        installment_rows = db_session.execute(
            select(Installment.id, Debt.id.label("debt_id"), Debtor)
            .join(PaymentPlan, PaymentPlan.id == Installment.plan_id)
            .join(Debt, Debt.id == PaymentPlan.debt_id)
            .join(Debtor, Debtor.id == Debt.debtor_id)
            .where(
                PaymentPlan.status == PlanStatus.ACTIVE,
                Installment.due_date == tomorrow,
                Installment.paid_minor < Installment.amount_minor,
                Debtor.timezone == zone,
                ~_queued("installment_due:", Installment.id),
            )
        ).all()
        messages = []
        for kind, rows, key, param in (
            (MessageKind.PROMISE_DUE, promise_rows, "promise_due", "promise_id"),
            (MessageKind.INSTALLMENT_DUE, installment_rows, "installment_due", "installment_id"),
        ):
            for row_id, debt_id, debtor in rows:
                if debtor.country not in rules:
                    rules[debtor.country] = contact_rules.rule_for(db_session, debtor.country)
                opens = gate.window_opens_at(rules[debtor.country], zone, today)
                messages.append(
                    _message(
                        f"{key}:{row_id}",
                        kind,
                        debtor.id,
                        debt_id,
                        today,
                        opens,
                        {param: row_id},
                        priority=debtor.recovery_priority_minor or 0,
                    )
                )
        for start in range(0, len(messages), batch_size):
            queued += outbox.enqueue_many(db_session, messages[start : start + batch_size])
            db_session.commit()
    return queued


def _queued(prefix: str, row_id) -> Exists:
    """Already in the outbox under `prefix` + the row's id (so each minute skips it)."""
    key = literal(prefix).concat(cast(row_id, String))
    return exists().where(OutboxMessage.dedupe_key == key)


def _message(
    dedupe_key: str,
    kind: MessageKind,
    debtor_id: int,
    debt_id: int,
    scheduled_for: date,
    not_before: datetime,
    params: dict,
    *,
    priority: int = 0,
) -> dict:
    return dict(
        dedupe_key=dedupe_key,
        kind=kind,
        debtor_id=debtor_id,
        debt_id=debt_id,
        scheduled_for=scheduled_for,
        not_before=not_before,
        params=params,
        priority=priority,
    )
