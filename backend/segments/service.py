"""The nightly segment recompute: gather behaviour in batches, score it, record what changed.

`recompute_all` walks the debtors (erased ones skipped) in batches of ids. Per batch it runs a
fixed number of set-based queries (debtors, debts, plans, installments of active plans,
promises, payments, contacts), builds each debtor's `DebtorBehaviour`, scores it with
`backend.segments.scorecard`, and writes only what differs from what is stored:

- new figures (score, likelihood, priority) with `segment_updated_at = now`;
- a new segment with a `SegmentChange` row and a "segment.changed" interaction holding the
  reasons. The cadence planner and `backend.debts.service.policy_for` both look the policy up
  by `Debtor.risk_segment`, so the next reminder and the next quote follow the new segment;
- a segment without a negotiation policy for one of the debtor's debt currencies is never
  entered (a quote would fail with `no_policy`): the debtor keeps their segment and a
  "segment.change_held" interaction says why, once, when the scorecard first points there.

Running it twice changes nothing the second time. Two runs at once are safe: on PostgreSQL a
batch locks its debtors with `FOR UPDATE SKIP LOCKED`, so the runs share the work; on SQLite,
which serializes writers, every write is conditional on the figures the run read, so the
second writer of a debtor writes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.debts.models import Debt, DebtStatus
from backend.enums import Actor
from backend.interactions.service import record
from backend.money import to_decimal
from backend.negotiation.models import NegotiationPolicy
from backend.payments.models import Payment
from backend.plans.models import Installment, PaymentPlan, PlanStatus
from backend.promises.models import PromiseStatus, PromiseToPay
from backend.segments import scorecard
from backend.segments.models import SegmentChange
from backend.segments.schemas import SegmentChangeRead, SegmentRead
from backend.segments.scorecard import Contactability, DebtorBehaviour, PlanStanding, Scorecard

log = logging.getLogger(__name__)

ACTOR_REF = "segments"
CHANGED_EVENT = "segment.changed"
HELD_EVENT = "segment.change_held"
NO_POLICY = "no_policy"

# Debts still being collected; disputed ones are paused, paid and written-off ones closed.
OPEN_STATUSES = (DebtStatus.CURRENT, DebtStatus.OVERDUE, DebtStatus.IN_PLAN)
CLOSED_STATUSES = (DebtStatus.PAID, DebtStatus.WRITTEN_OFF)
# Campaigns and the staff queue: the largest expected recovery first.
PRIORITY_ORDER = (Debtor.recovery_priority_minor.desc(), Debtor.id)


@dataclass
class RecomputeReport:
    """What a run did: debtors scored, figures rewritten, segments moved or held."""

    scored: int = 0
    updated: int = 0
    changed: int = 0
    held: int = 0
    # (from, to) → how many debtors moved so.
    moves: dict[tuple[str, str], int] = field(default_factory=dict)

    def line(self) -> str:
        """One line for the command line and the scheduler's log."""
        moves = ", ".join(f"{a}→{b} {n}" for (a, b), n in sorted(self.moves.items()))
        return (
            f"{self.scored} debtors scored, {self.updated} updated, {self.changed} moved"
            f"{f' ({moves})' if moves else ''}, {self.held} held for want of a policy"
        )

    def add(self, other: RecomputeReport) -> None:
        self.scored += other.scored
        self.updated += other.updated
        self.changed += other.changed
        self.held += other.held
        for move, count in other.moves.items():
            self.moves[move] = self.moves.get(move, 0) + count


def recompute_all(db_session: Session, now: datetime, *, batch_size: int = 500) -> RecomputeReport:
    """The nightly job: rescore every debtor not erased, one committed batch at a time."""
    report = RecomputeReport()
    policies = _policy_keys(db_session)
    after = 0
    while True:
        ids = db_session.scalars(
            select(Debtor.id)
            .where(Debtor.id > after, Debtor.erased_at.is_(None))
            .order_by(Debtor.id)
            .limit(batch_size)
        ).all()
        if not ids:
            break
        after = ids[-1]
        batch = _recompute_batch(db_session, ids, now, policies, skip_locked=True)
        db_session.commit()
        report.add(batch)
    log.info("segments: %s", report.line())
    return report


def recompute(db_session: Session, debtor: Debtor, now: datetime) -> Scorecard | None:
    """Rescore one debtor now (None when erased); the caller's transaction commits it."""
    if debtor.erased_at is not None:
        return None
    cards: dict[int, Scorecard] = {}
    _recompute_batch(
        db_session, [debtor.id], now, _policy_keys(db_session), skip_locked=False, cards=cards
    )
    db_session.flush()
    db_session.refresh(debtor)
    return cards.get(debtor.id)


def history(db_session: Session, debtor: Debtor, *, limit: int = 20) -> list[SegmentChange]:
    """The debtor's segment changes, newest first."""
    query = (
        select(SegmentChange)
        .where(SegmentChange.debtor_id == debtor.id)
        .order_by(SegmentChange.computed_at.desc(), SegmentChange.id.desc())
        .limit(limit)
    )
    return list(db_session.scalars(query))


def debtors_by_priority(
    *,
    db_session: Session,
    creditor_id: int | None = None,
    segment: str | None = None,
    limit: int = 100,
) -> list[Debtor]:
    """Debtors by expected recovery, largest first (ties by id); erased ones left out.

    To order another query the same way, use `PRIORITY_ORDER`.
    """
    query = select(Debtor).where(Debtor.erased_at.is_(None))
    if creditor_id is not None:
        query = query.where(Debtor.creditor_id == creditor_id)
    if segment is not None:
        query = query.where(Debtor.risk_segment == segment)
    return list(db_session.scalars(query.order_by(*PRIORITY_ORDER).limit(limit)))


def behaviour(db_session: Session, debtor: Debtor, now: datetime) -> DebtorBehaviour:
    """The facts the scorecard reads for one debtor, as the nightly run gathers them."""
    gathered = _gather(db_session, [debtor.id], now, lock=None)
    return gathered.behaviours[debtor.id]


def main_currency(db_session: Session, debtor: Debtor, now: datetime) -> str | None:
    """The currency the debtor's priority is in: that of their oldest open debt."""
    return behaviour(db_session, debtor, now).currency


def standing(db_session: Session, debtor: Debtor, now: datetime, *, limit: int = 20) -> SegmentRead:
    """The debtor's segment and figures as stored by the last run, with their latest changes."""
    currency = main_currency(db_session, debtor, now) if debtor.erased_at is None else None
    return SegmentRead(
        external_ref=debtor.external_ref,
        risk_segment=debtor.risk_segment,
        scored_segment=(
            scorecard.segment_for(debtor.risk_score) if debtor.risk_score is not None else None
        ),
        risk_score=debtor.risk_score,
        pay_likelihood=debtor.pay_likelihood,
        recovery_priority_minor=debtor.recovery_priority_minor,
        recovery_priority=(
            to_decimal(debtor.recovery_priority_minor, currency) if currency else None
        ),
        currency=currency,
        segment_updated_at=debtor.segment_updated_at,
        changes=[
            SegmentChangeRead.model_validate(change)
            for change in history(db_session, debtor, limit=limit)
        ],
    )


# --- one batch ----------------------------------------------------------------------------


@dataclass
class _Gathered:
    debtors: dict[int, Row]
    behaviours: dict[int, DebtorBehaviour]
    # (creditor_id, currency) of each debt not closed: a segment needs a policy for each.
    debt_keys: dict[int, set[tuple[int, str]]]


def _recompute_batch(
    db_session: Session,
    ids: list[int],
    now: datetime,
    policies: set[tuple[int, str, str]],
    *,
    skip_locked: bool,
    cards: dict[int, Scorecard] | None = None,
) -> RecomputeReport:
    report = RecomputeReport()
    gathered = _gather(db_session, ids, now, lock="skip_locked" if skip_locked else "wait")
    quiet_updates: list[dict[str, Any]] = []
    for debtor_id, stored in gathered.debtors.items():
        card = scorecard.score(gathered.behaviours[debtor_id])
        report.scored += 1
        if cards is not None:
            cards[debtor_id] = card
        target = card.segment
        missing = sorted(
            f"{creditor_id}:{currency}"
            for creditor_id, currency in gathered.debt_keys[debtor_id]
            if (creditor_id, target, currency) not in policies
        )
        new_segment = stored.risk_segment if missing else target
        figures_same = (
            stored.risk_score == card.score
            and stored.pay_likelihood == card.pay_likelihood
            and stored.recovery_priority_minor == card.recovery_priority_minor
        )
        if figures_same and new_segment == stored.risk_segment:
            continue
        report.updated += 1
        # Held: said once, when the scorecard first points to a segment it cannot enter.
        held_now = new_segment != target and (
            stored.risk_score is None or scorecard.segment_for(stored.risk_score) != target
        )
        values = {
            "b_id": debtor_id,
            "b_old_segment": stored.risk_segment,
            "b_old_score": stored.risk_score,
            "b_old_priority": stored.recovery_priority_minor,
            "b_segment": new_segment,
            "b_score": card.score,
            "b_likelihood": card.pay_likelihood,
            "b_priority": card.recovery_priority_minor,
            "b_updated_at": now,
        }
        if new_segment == stored.risk_segment and not held_now:
            quiet_updates.append(values)
            continue
        if db_session.execute(_CONDITIONAL_UPDATE, values).rowcount != 1:
            report.updated -= 1  # another run got there first
            continue
        if new_segment != stored.risk_segment:
            _record_change(db_session, debtor_id, stored.risk_segment, card, now)
            report.changed += 1
            move = (stored.risk_segment, new_segment)
            report.moves[move] = report.moves.get(move, 0) + 1
        else:
            _record_held(db_session, debtor_id, stored.risk_segment, card, missing)
            report.held += 1
    if quiet_updates:
        db_session.execute(_CONDITIONAL_UPDATE, quiet_updates)
    _expire_loaded(db_session, gathered.debtors)
    return report


def _expire_loaded(db_session: Session, debtor_ids) -> None:
    """Debtors this session already holds are re-read: they were updated behind the ORM."""
    for debtor_id in debtor_ids:
        loaded = db_session.identity_map.get(identity_key(Debtor, debtor_id))
        if loaded is not None:
            db_session.expire(loaded)


# Written only if the debtor still has the figures this run read (a concurrent run's write
# makes it a no-op). Core, not ORM: one executemany for the batch's figure-only updates.
_debtors = Debtor.__table__
_CONDITIONAL_UPDATE = (
    update(_debtors)
    .where(
        _debtors.c.id == bindparam("b_id"),
        _debtors.c.risk_segment == bindparam("b_old_segment"),
        _debtors.c.risk_score.is_not_distinct_from(bindparam("b_old_score")),
        _debtors.c.recovery_priority_minor == bindparam("b_old_priority"),
    )
    .values(
        risk_segment=bindparam("b_segment"),
        risk_score=bindparam("b_score"),
        pay_likelihood=bindparam("b_likelihood"),
        recovery_priority_minor=bindparam("b_priority"),
        segment_updated_at=bindparam("b_updated_at"),
    )
)


def _record_change(
    db_session: Session, debtor_id: int, from_segment: str, card: Scorecard, now: datetime
) -> None:
    reasons = card.reasons_as_dicts()
    db_session.add(
        SegmentChange(
            debtor_id=debtor_id,
            from_segment=from_segment,
            to_segment=card.segment,
            score=card.score,
            pay_likelihood=card.pay_likelihood,
            recovery_priority_minor=card.recovery_priority_minor,
            reasons=reasons,
            computed_at=now,
        )
    )
    record(
        db_session=db_session,
        event=CHANGED_EVENT,
        actor=Actor.SYSTEM,
        actor_ref=ACTOR_REF,
        debtor_id=debtor_id,
        data={"from": from_segment, "to": card.segment, "score": card.score, "reasons": reasons},
    )


def _record_held(
    db_session: Session, debtor_id: int, segment: str, card: Scorecard, missing: list[str]
) -> None:
    record(
        db_session=db_session,
        event=HELD_EVENT,
        actor=Actor.SYSTEM,
        actor_ref=ACTOR_REF,
        debtor_id=debtor_id,
        data={
            "from": segment,
            "to": card.segment,
            "reason": NO_POLICY,
            # "creditor_id:currency" of each debt the target segment has no policy for.
            "missing_policies": missing,
            "score": card.score,
            "reasons": card.reasons_as_dicts(),
        },
    )


def _policy_keys(db_session: Session) -> set[tuple[int, str, str]]:
    """(creditor, segment, currency) of every negotiation policy: a small table, read once."""
    query = select(
        NegotiationPolicy.creditor_id, NegotiationPolicy.risk_segment, NegotiationPolicy.currency
    )
    return {tuple(row) for row in db_session.execute(query)}


# --- gathering the facts (a fixed number of queries per batch) ----------------------------


def _gather(db_session: Session, ids: list[int], now: datetime, *, lock: str | None) -> _Gathered:
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
        return _Gathered({}, {}, {})
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
    return _Gathered(debtors, behaviours, debt_keys)


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
