"""The debt ledger: every change to a balance as a dated entry, so each balance is explained.

Invariant, after every write here: `debt.outstanding_minor == sum(entry.amount_minor)` over
the debt's entries. The balance changes only through these functions:

- `open_debt`: the creditor's opening statement (principal, fees and interest it came with,
  what was already paid, an active plan's discount and interest). Idempotent; every other
  writer calls it first, so a debt created without it is opened on first touch.
- `post_accruals`: late interest and the late fee computed by `backend.ledger.accrual`
  from the history, up to the debtor's local today. `accrue_all` runs it over every debt
  that needs it, in batches (the scheduler's nightly, or hourly, job).
- `post_payment` (the payments service) and `post_plan_agreed` (the plans service).

Functions flush and never commit: the caller's transaction holds the change and its entries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from backend.debtors.models import Debtor
from backend.debts import service as debts
from backend.debts.models import Debt, DebtStatus
from backend.ledger.accrual import BalanceEvent, DebtTerms, EventKind, accrue, first_late_day
from backend.ledger.models import EntryKind, LedgerEntry
from backend.payments.models import Payment
from backend.plans.models import PaymentPlan

log = logging.getLogger(__name__)

# Entry keys (unique per debt): what makes every posting idempotent.
OPENING_PRINCIPAL = "opening:principal"
OPENING_FEES = "opening:fees"
OPENING_INTEREST = "opening:interest"
OPENING_PAID = "opening:paid"
OPENING_ADJUSTMENT = "opening:adjustment"
LATE_FEE = "late_fee"
INTEREST_PREFIX = "interest:"  # + the last day of the posted period

# Statuses whose balance late interest can still change.
ACCRUING_STATUSES = (DebtStatus.OVERDUE, DebtStatus.CURRENT)
NOT_ACCRUING = frozenset({DebtStatus.PAID, DebtStatus.WRITTEN_OFF})


def payment_key(payment_id: int) -> str:
    return f"payment:{payment_id}"


def plan_discount_key(plan_id: int) -> str:
    return f"plan:{plan_id}:discount"


def plan_interest_key(plan_id: int) -> str:
    return f"plan:{plan_id}:interest"


def plan_adjustment_key(plan_id: int) -> str:
    return f"plan:{plan_id}:adjustment"


def interest_key(through: date) -> str:
    return f"{INTEREST_PREFIX}{through.isoformat()}"


def local_day(debtor: Debtor, moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(debtor.timezone)).date()


# --- opening ----------------------------------------------------------------------------


def is_open(*, db_session: Session, debt: Debt) -> bool:
    query = select(LedgerEntry.id).where(
        LedgerEntry.debt_id == debt.id, LedgerEntry.entry_key == OPENING_PRINCIPAL
    )
    return db_session.scalar(query) is not None


def open_debt(*, db_session: Session, debt: Debt, now: datetime) -> list[LedgerEntry]:
    """Post the opening statement of a debt not in the ledger yet; nothing if it is.

    The debt's figures as they stand are the statement, dated the debtor's local today:
    principal, the fees and interest it came with, an active plan's discount and interest,
    and what must have been paid for the outstanding balance to be what it is (or, should the
    balance be above all that, an adjustment). Late interest starts after this day.
    Callers that may race hold the debt's lock (`debts.lock_for_update`).
    """
    if is_open(db_session=db_session, debt=debt):
        return []
    as_of = debts.local_today(debt.debtor, now)
    entries = [_entry(debt, EntryKind.PRINCIPAL, debt.principal_minor, as_of, OPENING_PRINCIPAL)]
    if debt.fees_minor:
        entries.append(_entry(debt, EntryKind.LATE_FEE, debt.fees_minor, as_of, OPENING_FEES))
    if debt.interest_minor:
        entries.append(
            _entry(debt, EntryKind.INTEREST, debt.interest_minor, as_of, OPENING_INTEREST)
        )
    plan = debts.active_plan(db_session=db_session, debt=debt)
    if plan is not None:
        agreed_on = local_day(debt.debtor, plan.created_at)
        if plan.discount_minor:
            entries.append(
                _entry(
                    debt,
                    EntryKind.DISCOUNT,
                    -plan.discount_minor,
                    agreed_on,
                    plan_discount_key(plan.id),
                )
            )
        if plan.interest_minor:
            entries.append(
                _entry(
                    debt,
                    EntryKind.INTEREST,
                    plan.interest_minor,
                    agreed_on,
                    plan_interest_key(plan.id),
                )
            )
    explained = sum(entry.amount_minor for entry in entries)
    if explained > debt.outstanding_minor:
        paid = debt.outstanding_minor - explained
        entries.append(_entry(debt, EntryKind.PAYMENT, paid, as_of, OPENING_PAID))
    elif explained < debt.outstanding_minor:
        extra = debt.outstanding_minor - explained
        entries.append(_entry(debt, EntryKind.ADJUSTMENT, extra, as_of, OPENING_ADJUSTMENT))
    for entry in entries:
        entry.note = "opening statement"
    db_session.add_all(entries)
    if debt.accrued_through is None or debt.accrued_through < as_of:
        debt.accrued_through = as_of
    db_session.flush()
    return entries


def _entry(
    debt: Debt,
    kind: EntryKind,
    amount_minor: int,
    effective_date: date,
    entry_key: str,
    **extra,
) -> LedgerEntry:
    return LedgerEntry(
        debt_id=debt.id,
        kind=kind,
        amount_minor=amount_minor,
        effective_date=effective_date,
        entry_key=entry_key,
        **extra,
    )


# --- accrual ----------------------------------------------------------------------------


def terms_and_history(*, db_session: Session, debt: Debt) -> tuple[DebtTerms, list[BalanceEvent]]:
    """What `accrue` needs, read from the ledger (its accruals excluded) and the debt's plans."""
    entries = db_session.scalars(
        select(LedgerEntry)
        .where(
            LedgerEntry.debt_id == debt.id,
            LedgerEntry.entry_key != LATE_FEE,
            ~LedgerEntry.entry_key.startswith(INTEREST_PREFIX),
        )
        .order_by(LedgerEntry.effective_date, LedgerEntry.id)
    ).all()
    principal = 0
    opened_on = None
    history: list[BalanceEvent] = []
    for entry in entries:
        if entry.kind is EntryKind.PRINCIPAL:
            principal += entry.amount_minor
            if entry.entry_key == OPENING_PRINCIPAL:
                opened_on = entry.effective_date
            continue
        history.append(
            BalanceEvent(entry.effective_date, _event_kind(entry), abs(entry.amount_minor))
        )
    plans = db_session.scalars(select(PaymentPlan).where(PaymentPlan.debt_id == debt.id)).all()
    for plan in plans:
        history.append(
            BalanceEvent(local_day(debt.debtor, plan.created_at), EventKind.PLAN_STARTED)
        )
        if plan.ended_at is not None:
            history.append(
                BalanceEvent(local_day(debt.debtor, plan.ended_at), EventKind.PLAN_ENDED)
            )
    terms = DebtTerms(
        principal_minor=principal,
        due_date=debt.due_date,
        late_interest_monthly_pct=debt.late_interest_monthly_pct,
        late_fee_pct=debt.late_fee_pct,
        opened_on=opened_on,
    )
    return terms, history


def _event_kind(entry: LedgerEntry) -> EventKind:
    if entry.kind is EntryKind.INTEREST:
        return EventKind.INTEREST
    if entry.kind is EntryKind.LATE_FEE:
        return EventKind.FEE
    if entry.kind is EntryKind.PAYMENT:
        return EventKind.PAYMENT
    if entry.kind is EntryKind.DISCOUNT:
        return EventKind.DISCOUNT
    # An adjustment up bears no interest (like a fee); one down reduces like a discount.
    return EventKind.FEE if entry.amount_minor > 0 else EventKind.DISCOUNT


def post_accruals(*, db_session: Session, debt: Debt, now: datetime) -> list[LedgerEntry]:
    """Post late interest and the late fee up to the debtor's local today; idempotent.

    A day's interest is on the principal owed at its start, so posting today's in the
    morning is exact: a payment today counts from tomorrow. Paid and written-off debts are
    left alone. Takes the debt's lock, so two schedulers post each day once.
    """
    if debt.status in NOT_ACCRUING:
        return []
    today = debts.local_today(debt.debtor, now)
    if debt.accrued_through is not None and debt.accrued_through >= today:
        return []
    debts.lock_for_update(db_session=db_session, debt=debt)
    open_debt(db_session=db_session, debt=debt, now=now)
    if debt.accrued_through is not None and debt.accrued_through >= today:
        return []  # another process posted it while we waited, or it was just opened
    terms, history = terms_and_history(db_session=db_session, debt=debt)
    accruals = accrue(terms, history, today)
    posted_fee, posted_interest = _posted_accruals(db_session, debt)
    entries = []
    fee = next((a for a in accruals if a.kind is EntryKind.LATE_FEE), None)
    if fee is not None and not posted_fee:
        entries.append(
            _entry(
                debt,
                EntryKind.LATE_FEE,
                fee.amount_minor,
                fee.effective_date,
                LATE_FEE,
                period_start=fee.period_start,
                period_end=fee.period_end,
                note="late fee",
            )
        )
        debt.fees_minor += fee.amount_minor
    interest = sum(a.amount_minor for a in accruals if a.kind is EntryKind.INTEREST)
    due_now = interest - posted_interest
    if due_now:
        start = first_late_day(terms)
        if debt.accrued_through is not None:
            start = max(start, debt.accrued_through + timedelta(days=1))
        entries.append(
            _entry(
                debt,
                EntryKind.INTEREST,
                due_now,
                today,
                interest_key(today),
                period_start=start,
                period_end=today,
                note="late interest",
            )
        )
        debt.interest_minor += due_now
    debt.outstanding_minor += sum(entry.amount_minor for entry in entries)
    debt.accrued_through = today
    db_session.add_all(entries)
    db_session.flush()
    return entries


def _posted_accruals(db_session: Session, debt: Debt) -> tuple[bool, int]:
    fee = db_session.scalar(
        select(LedgerEntry.id).where(
            LedgerEntry.debt_id == debt.id, LedgerEntry.entry_key == LATE_FEE
        )
    )
    interest = db_session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
            LedgerEntry.debt_id == debt.id, LedgerEntry.entry_key.startswith(INTEREST_PREFIX)
        )
    )
    return fee is not None, int(interest or 0)


def accrue_all(*, db_session: Session, now: datetime, batch_size: int = 500) -> int:
    """Post accruals for every debt that needs them; return how many debts got entries.

    Selected set-based per time zone (so "today" is each debtor's local today): overdue
    debts, and current ones past their due date, not yet accrued through today. Disputed
    debts wait (their contractual interest is posted when they return to collection); debts
    in a plan accrue nothing. Commits after each batch.
    """
    changed = 0
    zones = db_session.scalars(select(Debtor.timezone).distinct()).all()
    for zone in zones:
        today = now.astimezone(ZoneInfo(zone)).date()
        after = 0
        while True:
            ids = db_session.scalars(
                select(Debt.id)
                .join(Debtor, Debtor.id == Debt.debtor_id)
                .where(
                    Debtor.timezone == zone,
                    Debt.status.in_(ACCRUING_STATUSES),
                    Debt.due_date < today,
                    or_(Debt.accrued_through.is_(None), Debt.accrued_through < today),
                    Debt.id > after,
                )
                .order_by(Debt.id)
                .limit(batch_size)
            ).all()
            if not ids:
                break
            for debt in db_session.scalars(select(Debt).where(Debt.id.in_(ids)).order_by(Debt.id)):
                if post_accruals(db_session=db_session, debt=debt, now=now):
                    changed += 1
            db_session.commit()
            after = ids[-1]
    log.info("accrual posted for %d debt(s)", changed)
    return changed


# --- payments and plans -----------------------------------------------------------------


def post_payment(
    *, db_session: Session, debt: Debt, payment: Payment, applied_minor: int, now: datetime
) -> LedgerEntry | None:
    """The part of a payment applied to the balance, dated the debtor's local today.

    Post accruals through today first (`post_accruals`): the payment then takes effect
    from tomorrow, as the accrual rules say. The caller holds the debt's lock.
    """
    open_debt(db_session=db_session, debt=debt, now=now)
    if applied_minor <= 0:
        return None
    entry = _entry(
        debt,
        EntryKind.PAYMENT,
        -applied_minor,
        debts.local_today(debt.debtor, now),
        payment_key(payment.id),
        payment_id=payment.id,
        note="payment",
    )
    db_session.add(entry)
    debt.outstanding_minor -= applied_minor
    db_session.flush()
    return entry


def post_plan_agreed(
    *, db_session: Session, debt: Debt, plan: PaymentPlan, now: datetime
) -> list[LedgerEntry]:
    """A plan's settlement discount and its interest: the balance becomes the plan's total.

    The debt must be opened before the plan is added (`open_debt`), so that the opening
    statement does not count the new plan.
    """
    today = debts.local_today(debt.debtor, now)
    entries = []
    if plan.discount_minor:
        entries.append(
            _entry(
                debt,
                EntryKind.DISCOUNT,
                -plan.discount_minor,
                today,
                plan_discount_key(plan.id),
                note="plan discount",
            )
        )
    if plan.interest_minor:
        entries.append(
            _entry(
                debt,
                EntryKind.INTEREST,
                plan.interest_minor,
                today,
                plan_interest_key(plan.id),
                note="plan interest",
            )
        )
    balance = debt.outstanding_minor + sum(entry.amount_minor for entry in entries)
    if balance != plan.total_minor:  # rounding in the plan's schedule, should it ever differ
        entries.append(
            _entry(
                debt,
                EntryKind.ADJUSTMENT,
                plan.total_minor - balance,
                today,
                plan_adjustment_key(plan.id),
                note="plan total",
            )
        )
    db_session.add_all(entries)
    debt.outstanding_minor = plan.total_minor
    db_session.flush()
    return entries


# --- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """A debt's entries in date order and their totals by kind; `balance` is their sum."""

    entries: list[LedgerEntry]
    totals: dict[EntryKind, int]
    balance: int


def balance_explained(*, db_session: Session, debt: Debt) -> Statement:
    entries = list(
        db_session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.debt_id == debt.id)
            .order_by(LedgerEntry.effective_date, LedgerEntry.id)
        )
    )
    totals = {kind: 0 for kind in EntryKind}
    for entry in entries:
        totals[entry.kind] += entry.amount_minor
    return Statement(entries=entries, totals=totals, balance=sum(totals.values()))


def ledger_balance(*, db_session: Session, debt_id: int) -> int:
    query = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.debt_id == debt_id
    )
    return int(db_session.scalar(query) or 0)


def unexplained_debts(*, db_session: Session) -> list[int]:
    """Ids of opened debts whose balance is not the sum of their entries (should be none)."""
    sums = (
        select(LedgerEntry.debt_id, func.sum(LedgerEntry.amount_minor).label("total"))
        .group_by(LedgerEntry.debt_id)
        .subquery()
    )
    query = (
        select(Debt.id)
        .join(sums, and_(sums.c.debt_id == Debt.id))
        .where(sums.c.total != Debt.outstanding_minor)
    )
    return list(db_session.scalars(query))
