"""Collections KPIs as pure functions over plain rows, one function per figure.

Each function's docstring is its definition, shown as such on the console's KPI page, so a
figure and the words that explain it cannot drift apart. Rows are loaded by
`backend.kpis.queries`; nothing here touches the database or the clock.

Conventions shared by every figure:

- A period is a half-open range of days `[start, end)`; days are UTC days (ledger dates are
  the debtor's local day, which the ledger records).
- The segment is the debtor's risk segment today, not the one they had at the time.
- A figure whose denominator is empty is "n/a", never zero and never a division by zero.
- Money figures are computed per currency: amounts in different currencies are never added.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

# Units a figure is displayed in.
RATE = "rate"
DAYS = "days"
MINUTES = "minutes"
SCORE = "score"
COUNT = "count"

CSAT_SCORES = (1, 2, 3, 4, 5)
UNKNOWN = "unknown"  # the segment of a contact not bound to a debtor, a message without channel


@dataclass(frozen=True)
class Figure:
    """One computed figure: its value (None when undefined) and the parts it came from."""

    value: float | None
    unit: str
    numerator: float | None = None
    denominator: float | None = None

    def text(self) -> str:
        """The figure as people read it: "62.5%", "3.0 min", "n/a"."""
        if self.value is None:
            return "n/a"
        if self.unit == RATE:
            return f"{self.value * 100:.1f}%"
        if self.unit == DAYS:
            return f"{self.value:.1f} days"
        if self.unit == MINUTES:
            return f"{self.value:.1f} min"
        if self.unit == SCORE:
            return f"{self.value:.2f}"
        return str(int(self.value))


def ratio(numerator: float, denominator: float, unit: str = RATE) -> Figure:
    """The quotient, or n/a when there is nothing to divide by."""
    value = numerator / denominator if denominator else None
    return Figure(value, unit, numerator, denominator)


def count(value: int) -> Figure:
    return Figure(value, COUNT, value, None)


# --- rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    """A payment plan on a debt, as far as standing is concerned."""

    created_on: date
    ended_on: date | None  # completed, broken or cancelled on that day; None while active
    # The earliest day an installment still unpaid became late (past its grace days).
    late_since: date | None = None

    def in_good_standing_on(self, day: date) -> bool:
        """Agreed before `day`, not ended by then, and no unpaid installment late by then."""
        return (
            self.created_on < day
            and (self.ended_on is None or self.ended_on >= day)
            and (self.late_since is None or self.late_since >= day)
        )


@dataclass(frozen=True)
class DebtRow:
    """A debt in the portfolio, with its ledger balance at the start of each boundary day."""

    debt_id: int
    debtor_id: int
    segment: str
    currency: str
    status: str  # its DebtStatus value today
    placed_on: date
    placed_minor: int  # the opening balance as the creditor sent it
    due_date: date
    # Sum of the ledger entries effective before each day the report asks about.
    balance_on: Mapping[date, int]
    plans: tuple[PlanRow, ...] = ()
    # The first day a person was handed the debt's or its debtor's conversation, if ever.
    first_handoff_on: date | None = None


@dataclass(frozen=True)
class PaymentRow:
    debt_id: int
    segment: str
    currency: str
    day: date
    amount_minor: int  # what the payment took off the balance (its overpaid part excluded)


@dataclass(frozen=True)
class ConversationRow:
    """One contact's conversation on one day: at least one message from the person."""

    contact_id: int
    day: date
    channel: str
    segment: str
    verified: bool  # proved to be the debtor that day (identity verified or chat linked)
    handed_off: bool  # a handoff to staff was opened for the contact that day


@dataclass(frozen=True)
class PromiseRow:
    day: date  # when the promise was resolved
    channel: str
    segment: str
    kept: bool


@dataclass(frozen=True)
class HandoffRow:
    day: date  # when the conversation was queued for staff
    channel: str
    segment: str
    reason: str
    # first_response_at − queued_at of a handoff that was assigned and answered; else None.
    response_seconds: float | None


@dataclass(frozen=True)
class CsatRow:
    day: date
    channel: str
    segment: str
    score: int


@dataclass(frozen=True)
class OutboxRow:
    """A message the assistant started, sent or suppressed by the compliance gate."""

    day: date  # sent on, or suppressed on
    channel: str
    segment: str
    kind: str
    sent: bool
    reason: str | None  # why it was suppressed


@dataclass(frozen=True)
class KpiData:
    """Every row one report needs, already limited to its period and creditor."""

    debts: Sequence[DebtRow] = ()
    payments: Sequence[PaymentRow] = ()
    conversations: Sequence[ConversationRow] = ()
    promises: Sequence[PromiseRow] = ()
    handoffs: Sequence[HandoffRow] = ()
    csat: Sequence[CsatRow] = ()
    outbox: Sequence[OutboxRow] = ()


# --- money and portfolio ----------------------------------------------------------------


def _placed_and_collected(
    debts: Iterable[DebtRow], payments: Iterable[PaymentRow], end: date
) -> tuple[dict[str, int], dict[str, int]]:
    placed: dict[str, int] = {}
    for debt in debts:
        if debt.placed_on < end:
            placed[debt.currency] = placed.get(debt.currency, 0) + debt.placed_minor
    collected: dict[str, int] = {}
    for payment in payments:
        collected[payment.currency] = collected.get(payment.currency, 0) + payment.amount_minor
    return placed, collected


def recovery_rate(
    debts: Sequence[DebtRow], payments: Sequence[PaymentRow], start: date, end: date
) -> dict[str, Figure]:
    """Recovery rate = money collected in the period ÷ money placed, per currency.

    Collected: the payments received in the period, less any part that exceeded the balance
    (overpaid, to be refunded). Placed: the opening balance of every debt placed for
    collection before the period's end (principal, fees and interest as the creditor sent it,
    less what had already been paid). Over time, each bucket's collections are divided by the
    money placed by the bucket's end, so the buckets add up to the period's rate.
    """
    placed, collected = _placed_and_collected(debts, payments, end)
    currencies = sorted(set(placed) | set(collected))
    return {c: ratio(collected.get(c, 0), placed.get(c, 0)) for c in currencies}


def days_sales_outstanding(
    debts: Sequence[DebtRow], payments: Sequence[PaymentRow], start: date, end: date
) -> dict[str, Figure]:
    """DSO = open balance at the period's end ÷ money collected in the period × days in it.

    The collections form of days sales outstanding, per currency: how many days of collections
    at the period's pace the open balance represents. Open balance: the ledger balance at the
    end of the period's last day of every debt placed by then, except debts written off.
    Collected: as in the recovery rate. With nothing collected, DSO is n/a.
    """
    open_balance: dict[str, int] = {}
    for debt in debts:
        if debt.placed_on < end and debt.status != "written_off":
            balance = max(debt.balance_on.get(end, 0), 0)
            open_balance[debt.currency] = open_balance.get(debt.currency, 0) + balance
    _placed, collected = _placed_and_collected((), payments, end)
    days = (end - start).days
    figures = {}
    for currency in sorted(set(open_balance) | set(collected)):
        paid = collected.get(currency, 0)
        balance = open_balance.get(currency, 0)
        value = balance / paid * days if paid else None
        figures[currency] = Figure(value, DAYS, balance, paid)
    return figures


def _overdue_on(debt: DebtRow, day: date) -> bool:
    return (
        debt.placed_on < day
        and debt.due_date < day
        and debt.balance_on.get(day, 0) > 0
        and not any(plan.in_good_standing_on(day) for plan in debt.plans)
    )


def _cured_by(debt: DebtRow, day: date) -> bool:
    if debt.status == "written_off":  # cancelled by an upheld dispute, or lost: not cured
        return False
    paid_off = debt.balance_on.get(day, 0) <= 0
    return paid_off or any(plan.in_good_standing_on(day) for plan in debt.plans)


@dataclass(frozen=True)
class CureCounts:
    overdue: int  # overdue at the start
    cured: int  # of those, cured by the end
    alone: int  # of those, cured with no handoff to staff before the end


def cure_counts(debts: Sequence[DebtRow], start: date, end: date) -> CureCounts:
    """What the cure and self-cure rates count (one pass over the debts for both)."""
    overdue = cured = alone = 0
    for debt in debts:
        if not _overdue_on(debt, start):
            continue
        overdue += 1
        if _cured_by(debt, end):
            cured += 1
            if debt.first_handoff_on is None or debt.first_handoff_on >= end:
                alone += 1
    return CureCounts(overdue, cured, alone)


def cure_rate(debts: Sequence[DebtRow], start: date, end: date) -> Figure:
    """Cure rate = debts overdue at the period's start that were cured by its end ÷ those debts.

    Overdue at the start: placed and past its due date before the period's first day, with a
    balance left, and not in a payment plan in good standing. Cured by the end: paid off (a
    ledger balance of zero or less) or in a payment plan in good standing (agreed, not
    broken or cancelled, no unpaid installment past its grace days). A debt written off is
    never cured.
    """
    counts = cure_counts(debts, start, end)
    return ratio(counts.cured, counts.overdue)


def self_cure_rate(debts: Sequence[DebtRow], start: date, end: date) -> Figure:
    """Self-cure rate = debts cured without a person ÷ debts overdue at the period's start.

    As the cure rate, counting only the cured debts whose debtor's conversations were never
    handed to staff (no handoff on the debt or on its debtor, queued before the period's end):
    the assistant, the reminders and the debtor did it alone.
    """
    counts = cure_counts(debts, start, end)
    return ratio(counts.alone, counts.overdue)


# --- conversations ----------------------------------------------------------------------


def promise_kept_rate(promises: Sequence[PromiseRow]) -> Figure:
    """Promise-kept rate = promises kept ÷ promises resolved (kept or broken) in the period.

    A promise is resolved on the day it is found kept (paid as promised) or broken (its date
    passed unpaid); cancelled promises and promises still running are left out. By channel:
    the channel the promise was made on.
    """
    kept = sum(1 for promise in promises if promise.kept)
    return ratio(kept, len(promises))


def right_party_contact_rate(conversations: Sequence[ConversationRow]) -> Figure:
    """Right-party contact rate = conversations with the debtor proved ÷ conversations.

    A conversation is one contact's messages on one day: a day on which someone wrote to us
    on a channel. The right party was reached when that contact verified their identity
    (document and birth date, and the e-mailed code when asked) or linked the chat through a
    signed link from our own message, that day.
    """
    reached = sum(1 for conversation in conversations if conversation.verified)
    return ratio(reached, len(conversations))


def handoff_rate(conversations: Sequence[ConversationRow]) -> Figure:
    """Handoff rate = conversations handed to staff ÷ conversations.

    A conversation (one contact's messages on one day) was handed to staff when a handoff was
    queued for its contact that day, whatever the reason: asked for by the debtor, escalated by
    a rule, or taken over by staff on their own initiative.
    """
    handed = sum(1 for conversation in conversations if conversation.handed_off)
    return ratio(handed, len(conversations))


def bot_containment(conversations: Sequence[ConversationRow]) -> Figure:
    """Bot containment = 1 − handoff rate.

    The conversations the assistant handled alone, with no handoff to staff that day, ÷
    conversations.
    """
    alone = sum(1 for conversation in conversations if not conversation.handed_off)
    return ratio(alone, len(conversations))


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `share` of values ≤ it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    """The middle value, or the mean of the two middle values of an even count."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _response_minutes(handoffs: Sequence[HandoffRow]) -> list[float]:
    return [h.response_seconds / 60 for h in handoffs if h.response_seconds is not None]


def first_response_median(handoffs: Sequence[HandoffRow]) -> Figure:
    """Staff first-response time, median, in minutes.

    The middle value of (first staff reply − queued at) over the handoffs queued in the period
    that were assigned to an agent and answered. Handoffs still waiting, or closed without a
    reply, are left out (the queue shows those).
    """
    minutes = _response_minutes(handoffs)
    return Figure(median(minutes), MINUTES, len(minutes), None)


def first_response_p90(handoffs: Sequence[HandoffRow]) -> Figure:
    """Staff first-response time, 90th percentile, in minutes.

    Nine in ten first replies came at most this long after the conversation was queued (the
    nearest-rank percentile: the ⌈0.9 × n⌉-th shortest). Same handoffs as the median.
    """
    minutes = _response_minutes(handoffs)
    return Figure(percentile(minutes, 0.9), MINUTES, len(minutes), None)


def csat_average(scores: Sequence[CsatRow]) -> Figure:
    """CSAT = the mean of the satisfaction scores given in the period.

    Debtors score a conversation from 1 (very unhappy) to 5 (very happy) at its end; the
    distribution counts each score.
    """
    return ratio(sum(row.score for row in scores), len(scores), SCORE)


def csat_distribution(scores: Sequence[CsatRow]) -> dict[str, Figure]:
    """How many times each score, 1 to 5, was given in the period."""
    return {str(n): count(sum(1 for row in scores if row.score == n)) for n in CSAT_SCORES}


def reminders_sent(outbox: Sequence[OutboxRow]) -> Figure:
    """Reminders sent = messages the assistant started and sent in the period.

    Cadence reminders and follow-ups (due tomorrow, late, broken, thanks), counted on the
    channel they went by.
    """
    return count(sum(1 for row in outbox if row.sent))


def reminders_suppressed(outbox: Sequence[OutboxRow]) -> dict[str, Figure]:
    """Reminders suppressed = messages the compliance gate stopped in the period, by reason.

    The gate's reason (an opt-out, a dispute, a payment claim, a person handling the
    conversation…) as the outbox recorded it; "all" counts every suppressed message.
    """
    suppressed = [row for row in outbox if not row.sent]
    reasons = sorted({row.reason or UNKNOWN for row in suppressed})
    figures = {"all": count(len(suppressed))}
    for reason in reasons:
        figures[reason] = count(sum(1 for row in suppressed if (row.reason or UNKNOWN) == reason))
    return figures
