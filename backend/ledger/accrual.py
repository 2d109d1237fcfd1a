"""Late interest and the late fee: a pure function of a debt's terms and its history.

The rules (what `accrue` computes, and nothing else):

- Late interest is simple interest on the overdue principal only, at the debt's
  `late_interest_monthly_pct` per month pro rata by day on a commercial 30-day month: each
  late day costs principal × rate / 30, whatever the month's length (so a 31-day month costs
  31/30 of the monthly rate and February 28/30 or 29/30). Never interest on interest or on
  fees: compounding them (anatocism) is restricted in Brazilian, Italian and Spanish law
  (Decreto 22.626/33 art. 4 and STF Súmula 121; art. 1283 of the Codice civile; art. 1109 of
  the Código civil), and a debtor could not follow a balance that grows on itself.
- It starts the day after the due date. The late fee, `late_fee_pct` of the principal still
  owed that day, is charged once, on that same day.
- What the creditor stated when the debt was opened (`DebtTerms.opened_on`) covers
  everything up to that day: interest here starts the day after it, and the late fee is
  charged only if its day comes after it.
- Nothing accrues while a plan is active (the plan's own interest applies), once the debt is
  paid (no principal is left to bear interest) or from the day it is written off.
- Payments and discounts reduce the balance in this order: fees, then interest (charged and
  accrued up to that day), then principal, so that what stops bearing interest last is the
  principal (the order of art. 354 of the Código Civil, art. 1194 of the Codice civile and
  art. 1173 of the Código civil: interest before capital).
- A day's interest is on the principal owed at the start of that day: what is paid on a day
  takes effect from the next day. Plans and payments are dated by the debtor's local day.

Money is in minor units. Rounding never drifts: the exact interest (a fraction) is summed
from the first late day, the cumulative sum is rounded half-to-even at the end of each
period, and a period's amount is the difference between two rounded cumulative sums. So the
amounts of any run of periods add up to the rounded exact total.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from backend.ledger.models import EntryKind

ONE_DAY = timedelta(days=1)
DAYS_IN_COMMERCIAL_MONTH = 30


class EventKind(str, enum.Enum):
    FEE = "fee"  # a fee charged (the creditor's opening statement)
    INTEREST = "interest"  # interest charged other than late interest (opening, a plan's)
    PAYMENT = "payment"
    DISCOUNT = "discount"  # a forgiven part of the balance
    PLAN_STARTED = "plan_started"  # agreed on that day: no late interest from the next day …
    PLAN_ENDED = "plan_ended"  # … until the day after it ended (broken, completed, cancelled)
    WRITTEN_OFF = "written_off"  # nothing accrues from that day


@dataclass(frozen=True)
class DebtTerms:
    principal_minor: int
    due_date: date
    late_interest_monthly_pct: Decimal
    late_fee_pct: Decimal
    # The creditor's opening statement covers everything up to this day (None: nothing was
    # stated, accrual starts right after the due date).
    opened_on: date | None = None


@dataclass(frozen=True)
class BalanceEvent:
    on: date  # the debtor's local day
    kind: EventKind
    amount_minor: int = 0  # positive; the kind says which way it moves the balance


@dataclass(frozen=True)
class Accrual:
    kind: EntryKind  # INTEREST or LATE_FEE
    amount_minor: int
    effective_date: date
    period_start: date
    period_end: date


def first_late_day(terms: DebtTerms) -> date:
    """The first day anything may accrue: after the due date and after the opening statement."""
    first = terms.due_date + ONE_DAY
    if terms.opened_on is not None:
        first = max(first, terms.opened_on + ONE_DAY)
    return first


def accrue(terms: DebtTerms, history: list[BalanceEvent], through: date) -> list[Accrual]:
    """Every accrual from the first late day up to and including `through`.

    One LATE_FEE (if due) and one INTEREST accrual per calendar month with interest in it,
    each month's amount a difference of rounded cumulative sums.
    """
    run = _Run(terms, through)
    for event in sorted(history, key=_applies_after):
        if _applies_after(event) >= through:
            break
        run.accrue_until(_applies_after(event))
        run.apply(event)
    run.accrue_until(through)
    return run.accruals()


def _applies_after(event: BalanceEvent) -> date:
    """The day at whose end the event changes the balance or what accrues.

    A write-off stops accrual on its own day; everything else applies at the end of its day
    (a plan agreed on a day leaves that day's interest due; a payment counts from the next).
    """
    if event.kind is EventKind.WRITTEN_OFF:
        return event.on - ONE_DAY
    return event.on


class _Run:
    """The balance by component while walking the history day range by day range."""

    def __init__(self, terms: DebtTerms, through: date) -> None:
        self.terms = terms
        self.through = through
        self.first_day = first_late_day(terms)
        self.next_day = self.first_day  # the first day not yet accrued
        self.daily_rate = Fraction(terms.late_interest_monthly_pct) / 100 / DAYS_IN_COMMERCIAL_MONTH
        self.principal = terms.principal_minor
        self.fees = 0
        self.interest_charged = 0
        self.interest_paid = 0
        self.late_interest = Fraction(0)  # exact, cumulative
        self.by_month: dict[tuple[int, int], Fraction] = {}
        self.in_plan = False
        self.written_off = False
        self.late_fee: Accrual | None = None
        # The fee is charged on the day after the due date, unless the opening statement
        # already covers that day.
        self.fee_day = (
            terms.due_date + ONE_DAY if self.first_day == terms.due_date + ONE_DAY else None
        )

    def accrue_until(self, last_day: date) -> None:
        """Accrue the days from `next_day` to `last_day` (inclusive), all in the same state."""
        end = min(last_day, self.through)
        if end < self.next_day:
            return
        if not self.in_plan and not self.written_off:
            if self.fee_day is not None and self.next_day <= self.fee_day <= end:
                self._charge_late_fee()
            day = self.next_day
            while day <= end:
                month_end = date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
                chunk_end = min(month_end, end)
                days = (chunk_end - day).days + 1
                amount = self.principal * self.daily_rate * days
                self.late_interest += amount
                key = (day.year, day.month)
                self.by_month[key] = self.by_month.get(key, Fraction(0)) + amount
                day = chunk_end + ONE_DAY
        elif self.fee_day is not None and self.next_day <= self.fee_day <= end:
            self.fee_day = None  # its day passed in a plan or written off: never charged
        self.next_day = end + ONE_DAY

    def _charge_late_fee(self) -> None:
        amount = _round(Fraction(self.principal) * Fraction(self.terms.late_fee_pct) / 100)
        self.fee_day, fee_day = None, self.fee_day
        if amount > 0:
            self.fees += amount
            self.late_fee = Accrual(EntryKind.LATE_FEE, amount, fee_day, fee_day, fee_day)

    def apply(self, event: BalanceEvent) -> None:
        if event.kind is EventKind.FEE:
            self.fees += event.amount_minor
        elif event.kind is EventKind.INTEREST:
            self.interest_charged += event.amount_minor
        elif event.kind in (EventKind.PAYMENT, EventKind.DISCOUNT):
            self._reduce(event.amount_minor)
        elif event.kind is EventKind.PLAN_STARTED:
            self.in_plan = True
        elif event.kind is EventKind.PLAN_ENDED:
            self.in_plan = False
        elif event.kind is EventKind.WRITTEN_OFF:
            self.written_off = True

    def _reduce(self, amount: int) -> None:
        """Fees first, then interest, then principal; anything beyond is an overpayment."""
        to_fees = min(amount, self.fees)
        self.fees -= to_fees
        amount -= to_fees
        interest_owed = self.interest_charged + _round(self.late_interest) - self.interest_paid
        to_interest = min(amount, max(interest_owed, 0))
        self.interest_paid += to_interest
        amount -= to_interest
        self.principal -= min(amount, self.principal)

    def accruals(self) -> list[Accrual]:
        result = [self.late_fee] if self.late_fee else []
        cumulative = Fraction(0)
        posted = 0
        for year, month in sorted(self.by_month):
            cumulative += self.by_month[(year, month)]
            rounded = _round(cumulative)
            if rounded != posted:
                start = max(date(year, month, 1), self.first_day)
                end = min(date(year, month, calendar.monthrange(year, month)[1]), self.through)
                result.append(Accrual(EntryKind.INTEREST, rounded - posted, end, start, end))
            posted = rounded
        return result


def _round(value: Fraction) -> int:
    """Half to even (Python rounds a Fraction that way), to a whole minor unit."""
    return round(value)


def accrue_all(db_session, now, batch_size: int = 500) -> int:
    """The nightly job as the scheduler calls it: `backend.ledger.service.accrue_all`.

    Kept here, outside the pure part, because the shared design names it so.
    """
    from backend.ledger import service

    return service.accrue_all(db_session=db_session, now=now, batch_size=batch_size)
