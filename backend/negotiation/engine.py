"""The negotiation engine: plain functions, no I/O.

Given a debt's position, the negotiation policy of its risk segment and what the debtor asked
for (a number of installments, an affordable monthly amount or a lump-sum offer), `decide`
returns one of three outcomes:

- ACCEPTED: the plan asked for is allowed as it is;
- COUNTER_OFFER: it is not, and here are the closest plans the policy does allow;
- REFUSED: nothing can be negotiated automatically, with a reason code.

Every plan the engine returns has passed `policy_violations`, an independent check of the
policy, so a plan outside the policy cannot leave this module. Amounts are integer minor units
(see `backend.money`).

Interest accrues only on what is still owed, for the whole months it is owed (the Price or
French amortisation used in Brazil and Italy). The financed amount (balance minus down
payment) is owed from today; an installment due `t` whole months from today is worth
`(1 + i)^−t` of today's money, so the equal installment is

    PMT = P / Σₖ (1 + i)^−tₖ

which is the familiar `P · i / (1 − (1 + i)^−n)` when the first installment is a month away
(an ordinary annuity) and `P · i / ((1 + i) · (1 − (1 + i)^−n))` when it is due today or less
than a month away (an annuity-due): an installment due within the first month carries no
interest at all, nor does a down payment, which is never financed, and a part of a month is
never charged. PMT is rounded half-even to the minor unit; the last installment is what is then
still owed, interest included, computed exactly and rounded half-even, so it takes the rounding
residue and the schedule sums exactly to the total. The stated monthly rate is thus the real
rate on the declining balance, and the effective annual rate is `(1 + i)^12 − 1`.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from functools import lru_cache

from backend.money import percent_of_ceil, percent_of_floor


class Outcome(str, enum.Enum):
    ACCEPTED = "accepted"
    COUNTER_OFFER = "counter_offer"
    REFUSED = "refused"


class PlanKind(str, enum.Enum):
    INSTALLMENTS = "installments"
    SETTLEMENT = "settlement"


class ReasonCode(str, enum.Enum):
    """Why a request was not accepted as asked. Stable strings: clients branch on them."""

    TOO_MANY_INSTALLMENTS = "too_many_installments"
    INSTALLMENT_BELOW_MINIMUM = "installment_below_minimum"
    PLAN_TOO_LONG = "plan_too_long"
    DOWN_PAYMENT_TOO_LOW = "down_payment_too_low"
    DOWN_PAYMENT_EXCEEDS_BALANCE = "down_payment_exceeds_balance"
    FIRST_PAYMENT_TOO_LATE = "first_payment_too_late"
    START_DATE_IN_PAST = "start_date_in_past"
    SETTLEMENT_DISCOUNT_TOO_HIGH = "settlement_discount_too_high"
    DEBT_DISPUTED = "debt_disputed"
    DEBT_PAID = "debt_paid"
    DEBT_WRITTEN_OFF = "debt_written_off"
    PLAN_ALREADY_ACTIVE = "plan_already_active"
    TOO_MANY_BROKEN_PROMISES = "too_many_broken_promises"
    NOTHING_TO_PAY = "nothing_to_pay"
    # Reported only by `policy_violations`, for plans built elsewhere.
    SCHEDULE_INCONSISTENT = "schedule_inconsistent"
    INTEREST_MISMATCH = "interest_mismatch"


@dataclass(frozen=True)
class PolicyLimits:
    """What a risk segment's negotiation policy allows; see `NegotiationPolicy`."""

    max_installments: int
    min_down_payment_pct: Decimal
    min_installment_minor: int
    max_plan_days: int
    max_days_to_first_payment: int
    max_settlement_discount_pct: Decimal
    plan_interest_monthly_pct: Decimal
    max_broken_promises: int


@dataclass(frozen=True)
class DebtPosition:
    """The facts about a debt that negotiation depends on."""

    outstanding_minor: int
    currency: str
    status: str
    broken_promises: int = 0
    has_active_plan: bool = False


@dataclass(frozen=True)
class PlanRequest:
    """What the debtor asked for: exactly one of installments, monthly amount or lump sum."""

    installments: int | None = None
    monthly_amount_minor: int | None = None
    lump_sum_minor: int | None = None
    down_payment_minor: int | None = None
    start_date: date | None = None

    def __post_init__(self) -> None:
        asked = [self.installments, self.monthly_amount_minor, self.lump_sum_minor]
        if sum(value is not None for value in asked) != 1:
            raise ValueError("ask for exactly one of installments, monthly amount or lump sum")
        if self.installments is not None and self.installments < 1:
            raise ValueError("installments must be at least 1")
        if self.monthly_amount_minor is not None and self.monthly_amount_minor < 1:
            raise ValueError("monthly amount must be positive")
        if self.lump_sum_minor is not None and self.lump_sum_minor < 1:
            raise ValueError("lump sum must be positive")
        if self.down_payment_minor is not None:
            if self.down_payment_minor < 0:
                raise ValueError("down payment cannot be negative")
            if self.lump_sum_minor is not None:
                raise ValueError("a lump sum has no down payment")


@dataclass(frozen=True)
class ScheduledPayment:
    due_date: date
    amount_minor: int
    is_down_payment: bool = False


@dataclass(frozen=True)
class PlanProposal:
    """A concrete plan: what is paid when. Its schedule sums exactly to its total.

    `interest_minor` is the total cost of the credit; the rate it was charged at is the
    policy's (`charged_monthly_pct`).
    """

    kind: PlanKind
    currency: str
    balance_minor: int
    discount_minor: int
    interest_minor: int
    down_payment_minor: int
    installment_count: int
    schedule: tuple[ScheduledPayment, ...]

    @property
    def total_minor(self) -> int:
        return sum(payment.amount_minor for payment in self.schedule)

    @property
    def installment_minor(self) -> int:
        """The largest regular installment (for a settlement, the single payment)."""
        regular = [p.amount_minor for p in self.schedule if not p.is_down_payment]
        return max(regular) if regular else 0

    @property
    def first_due_date(self) -> date:
        return self.schedule[0].due_date

    @property
    def last_due_date(self) -> date:
        return self.schedule[-1].due_date


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    plan: PlanProposal | None = None
    counter_offers: tuple[PlanProposal, ...] = field(default_factory=tuple)
    reason: ReasonCode | None = None


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the end of shorter months (Jan 31 → Feb 28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    if day.day <= 28:
        return date(year, month, day.day)
    return date(year, month, min(day.day, _days_in_month(year, month)))


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    return _DAYS_IN_MONTH[month - 1] + (month == 2 and calendar.isleap(year))


def minimum_down_payment(balance_minor: int, policy: PolicyLimits) -> int:
    return percent_of_ceil(balance_minor, policy.min_down_payment_pct)


def minimum_settlement(balance_minor: int, policy: PolicyLimits) -> int:
    return balance_minor - percent_of_floor(balance_minor, policy.max_settlement_discount_pct)


def whole_months(since: date, until: date) -> int:
    """Whole months from `since` to `until` (0 when less than a month; Jan 31 → Feb 28 is 1)."""
    months = (until.year - since.year) * 12 + until.month - since.month
    # `add_months(since, months)` falls after `until` when its clamped day does.
    if months > 0 and since.day > until.day < _days_in_month(until.year, until.month):
        months -= 1
    return max(months, 0)


def annuity_payments(financed_minor: int, monthly_pct: Decimal, months: Sequence[int]) -> list[int]:
    """Equal installments repaying a financed amount at `monthly_pct` on the declining balance.

    `months[k]` is the whole months from today to installment k's due date (non-decreasing).
    The installment is `P / Σ (1 + i)^−months[k]`, rounded half-even; the last is what is then
    still owed, interest included, rounded half-even, so it takes the rounding residue.
    Computed exactly in integers: with `1 + i = a / b`, `(1 + i)^−t = b^t / a^t`.
    """
    if not months:
        raise ValueError("a plan has at least one installment")
    a, b = _growth_ratio(monthly_pct)
    last_month = months[-1]
    a_powers, b_powers = [1], [1]
    for _ in range(last_month):
        a_powers.append(a_powers[-1] * a)
        b_powers.append(b_powers[-1] * b)
    # Every discount factor over the common denominator a^T (T: the last installment's month).
    weights = sum(b_powers[t] * a_powers[last_month - t] for t in months)
    owed = financed_minor * a_powers[last_month]
    payment = _divide_half_even(owed, weights)
    earlier = weights - b_powers[last_month]  # the others, compounded to the last due date
    last = _divide_half_even(owed - payment * earlier, b_powers[last_month])
    return [payment] * (len(months) - 1) + [last]


@lru_cache(maxsize=64)
def _growth_ratio(monthly_pct: Decimal) -> tuple[int, int]:
    """`1 + monthly_pct / 100` as a fraction a / b in lowest terms."""
    rate = Fraction(monthly_pct) / 100
    return rate.denominator + rate.numerator, rate.denominator


def _divide_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def effective_annual_pct(monthly_pct: Decimal) -> Decimal:
    """The effective annual rate of a monthly rate, `(1 + i)^12 − 1`, in percent to 0.01."""
    annual = ((1 + Decimal(monthly_pct) / 100) ** 12 - 1) * 100
    return annual.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def charged_monthly_pct(plan: PlanProposal, policy: PolicyLimits) -> Decimal:
    """The monthly rate a plan is charged: the policy's on installments, none on a settlement."""
    if plan.kind is PlanKind.SETTLEMENT:
        return Decimal(0)
    return policy.plan_interest_monthly_pct


def build_installment_plan(
    *,
    position: DebtPosition,
    policy: PolicyLimits,
    count: int,
    down_payment_minor: int,
    start: date,
    today: date,
) -> PlanProposal:
    """Lay out a plan: the down payment (if any) on `start`, then monthly installments.

    Without a down payment the first installment falls on `start`; with one, a month later.
    Interest runs from `today` on the financed amount (see `annuity_payments`).
    """
    financed = position.outstanding_minor - down_payment_minor
    first_offset = 1 if down_payment_minor else 0
    due_dates = [add_months(start, first_offset + index) for index in range(count)]
    amounts = annuity_payments(
        financed,
        policy.plan_interest_monthly_pct,
        [whole_months(today, due) for due in due_dates],
    )
    schedule = []
    if down_payment_minor:
        schedule.append(ScheduledPayment(start, down_payment_minor, is_down_payment=True))
    schedule.extend(
        ScheduledPayment(due, amount) for due, amount in zip(due_dates, amounts, strict=True)
    )
    return PlanProposal(
        kind=PlanKind.INSTALLMENTS,
        currency=position.currency,
        balance_minor=position.outstanding_minor,
        discount_minor=0,
        interest_minor=sum(amounts) - financed,
        down_payment_minor=down_payment_minor,
        installment_count=count,
        schedule=tuple(schedule),
    )


def build_settlement(*, position: DebtPosition, amount_minor: int, pay_on: date) -> PlanProposal:
    """A single payment settling the debt, the difference to the balance being a discount."""
    amount = min(amount_minor, position.outstanding_minor)
    return PlanProposal(
        kind=PlanKind.SETTLEMENT,
        currency=position.currency,
        balance_minor=position.outstanding_minor,
        discount_minor=position.outstanding_minor - amount,
        interest_minor=0,
        down_payment_minor=0,
        installment_count=1,
        schedule=(ScheduledPayment(pay_on, amount),),
    )


def request_for(plan: PlanProposal) -> PlanRequest:
    """The request that `decide` answers with exactly this plan, while nothing has changed.

    Clients agree a quoted plan by sending it back with the quote's fingerprint.
    """
    if plan.kind is PlanKind.SETTLEMENT:
        return PlanRequest(lump_sum_minor=plan.total_minor, start_date=plan.first_due_date)
    return PlanRequest(
        installments=plan.installment_count,
        down_payment_minor=plan.down_payment_minor or None,
        start_date=plan.first_due_date,
    )


def policy_violations(
    plan: PlanProposal, *, policy: PolicyLimits, position: DebtPosition, today: date
) -> list[ReasonCode]:
    """Every way in which `plan` breaks `policy`; empty when the plan is allowed."""
    problems: list[ReasonCode] = []
    schedule = plan.schedule
    dates = [payment.due_date for payment in schedule]
    consistent = (
        bool(schedule)
        and all(payment.amount_minor > 0 for payment in schedule)
        and dates == sorted(dates)
        and plan.balance_minor == position.outstanding_minor
        and plan.total_minor == plan.balance_minor - plan.discount_minor + plan.interest_minor
        and plan.currency == position.currency
    )
    if not consistent:
        problems.append(ReasonCode.SCHEDULE_INCONSISTENT)
        return problems
    if plan.first_due_date < today:
        problems.append(ReasonCode.START_DATE_IN_PAST)
    if (plan.first_due_date - today).days > policy.max_days_to_first_payment:
        problems.append(ReasonCode.FIRST_PAYMENT_TOO_LATE)
    if (plan.last_due_date - today).days > policy.max_plan_days:
        problems.append(ReasonCode.PLAN_TOO_LONG)

    if plan.kind is PlanKind.SETTLEMENT:
        if len(schedule) != 1 or plan.interest_minor or plan.down_payment_minor:
            problems.append(ReasonCode.SCHEDULE_INCONSISTENT)
        if plan.discount_minor > plan.balance_minor - minimum_settlement(
            plan.balance_minor, policy
        ):
            problems.append(ReasonCode.SETTLEMENT_DISCOUNT_TOO_HIGH)
        return problems

    regular = [p for p in schedule if not p.is_down_payment]
    down = [p for p in schedule if p.is_down_payment]
    if (
        plan.discount_minor
        or len(regular) != plan.installment_count
        or sum(p.amount_minor for p in down) != plan.down_payment_minor
        or (down and schedule[0] is not down[0])
        or len(down) > 1
    ):
        problems.append(ReasonCode.SCHEDULE_INCONSISTENT)
    if plan.installment_count > policy.max_installments:
        problems.append(ReasonCode.TOO_MANY_INSTALLMENTS)
    if plan.down_payment_minor < minimum_down_payment(plan.balance_minor, policy):
        problems.append(ReasonCode.DOWN_PAYMENT_TOO_LOW)
    if plan.down_payment_minor >= plan.balance_minor:
        problems.append(ReasonCode.DOWN_PAYMENT_EXCEEDS_BALANCE)
    if plan.installment_count > 1 and any(
        p.amount_minor < policy.min_installment_minor for p in regular
    ):
        problems.append(ReasonCode.INSTALLMENT_BELOW_MINIMUM)
    if regular:
        # Each installment exactly what the annuity at the policy's rate asks for the whole
        # months it is owed: interest on the declining balance, for the time it is owed.
        expected = annuity_payments(
            plan.balance_minor - plan.down_payment_minor,
            policy.plan_interest_monthly_pct,
            [whole_months(today, p.due_date) for p in regular],
        )
        if [p.amount_minor for p in regular] != expected:
            problems.append(ReasonCode.INTEREST_MISMATCH)
    return problems


def refusal_reason(position: DebtPosition, policy: PolicyLimits) -> ReasonCode | None:
    """Why this debt cannot be negotiated automatically at all, if it cannot."""
    if position.status == "disputed":
        return ReasonCode.DEBT_DISPUTED
    if position.status == "paid":
        return ReasonCode.DEBT_PAID
    if position.status == "written_off":
        return ReasonCode.DEBT_WRITTEN_OFF
    if position.has_active_plan or position.status == "in_plan":
        return ReasonCode.PLAN_ALREADY_ACTIVE
    if position.outstanding_minor <= 0:
        return ReasonCode.NOTHING_TO_PAY
    if position.broken_promises > policy.max_broken_promises:
        return ReasonCode.TOO_MANY_BROKEN_PROMISES
    return None


def decide(
    *, position: DebtPosition, policy: PolicyLimits, request: PlanRequest, today: date
) -> Decision:
    """Accept the request, counter-offer the closest allowed plans, or refuse with a reason."""
    refusal = refusal_reason(position, policy)
    if refusal:
        return Decision(Outcome.REFUSED, reason=refusal)
    start = request.start_date or today
    if start < today:
        return Decision(Outcome.REFUSED, reason=ReasonCode.START_DATE_IN_PAST)
    latest_start = today + timedelta(days=policy.max_days_to_first_payment)
    start_reason = ReasonCode.FIRST_PAYMENT_TOO_LATE if start > latest_start else None
    start = min(start, latest_start)

    balance = position.outstanding_minor
    down_asked = request.down_payment_minor or 0
    if down_asked > balance:
        return Decision(Outcome.REFUSED, reason=ReasonCode.DOWN_PAYMENT_EXCEEDS_BALANCE)
    # Whoever offers to pay the whole balance at once (as a lump sum, a monthly amount or a
    # down payment) is offered the settlement with the full discount the policy allows, never
    # a one-payment "plan" with interest.
    asked_amounts = (request.lump_sum_minor, request.monthly_amount_minor, down_asked)
    if any(amount is not None and amount >= balance for amount in asked_amounts):
        floor = minimum_settlement(balance, policy)
        return _decide_lump_sum(position, policy, floor, start, today, start_reason)
    if request.lump_sum_minor is not None:
        return _decide_lump_sum(
            position, policy, request.lump_sum_minor, start, today, start_reason
        )

    down_minimum = minimum_down_payment(position.outstanding_minor, policy)
    # Not mentioning a down payment means "the least the policy allows"; naming one below
    # the minimum gets a counter-offer with the minimum.
    asked_too_little = request.down_payment_minor is not None and down_asked < down_minimum
    down_reason = ReasonCode.DOWN_PAYMENT_TOO_LOW if asked_too_little else None
    down = max(down_asked, down_minimum)
    pre_reason = start_reason or down_reason
    if down >= position.outstanding_minor:
        # The policy asks for everything up front: the only plan is a settlement.
        floor = minimum_settlement(position.outstanding_minor, policy)
        full = build_settlement(position=position, amount_minor=floor, pay_on=start)
        if request.installments == 1 and pre_reason is None:
            return Decision(Outcome.ACCEPTED, plan=full)
        reason = pre_reason or ReasonCode.TOO_MANY_INSTALLMENTS
        return _offer([full], position, policy, today, reason)

    allowed = allowed_installment_plans(
        position=position, policy=policy, down_payment_minor=down, start=start, today=today
    )
    if request.installments is not None:
        return _decide_installments(
            position, policy, request.installments, allowed, down, start, today, pre_reason
        )
    return _decide_monthly_amount(
        position, policy, request.monthly_amount_minor or 0, allowed, start, today, pre_reason
    )


def allowed_installment_plans(
    *,
    position: DebtPosition,
    policy: PolicyLimits,
    down_payment_minor: int,
    start: date,
    today: date,
) -> dict[int, PlanProposal]:
    """Every installment plan the policy allows for this down payment and start, by count."""
    plans = {}
    for count in range(1, policy.max_installments + 1):
        plan = build_installment_plan(
            position=position,
            policy=policy,
            count=count,
            down_payment_minor=down_payment_minor,
            start=start,
            today=today,
        )
        if not policy_violations(plan, policy=policy, position=position, today=today):
            plans[count] = plan
    return plans


def gentlest_plan(*, position: DebtPosition, policy: PolicyLimits, today: date) -> PlanProposal:
    """The allowed plan with the lowest payments, for people in hardship.

    Tries starting today and as late as the policy allows, and keeps the one whose regular
    installment is lowest (then the later start). Falls back to the settlement.
    """
    down = minimum_down_payment(position.outstanding_minor, policy)
    candidates: list[PlanProposal] = []
    if down < position.outstanding_minor:
        for start in (today, today + timedelta(days=policy.max_days_to_first_payment)):
            allowed = allowed_installment_plans(
                position=position,
                policy=policy,
                down_payment_minor=down,
                start=start,
                today=today,
            )
            candidates.extend(allowed.values())
    if not candidates:
        floor = minimum_settlement(position.outstanding_minor, policy)
        return build_settlement(position=position, amount_minor=floor, pay_on=today)
    return min(candidates, key=lambda p: (p.installment_minor, -p.first_due_date.toordinal()))


def _decide_installments(
    position: DebtPosition,
    policy: PolicyLimits,
    asked: int,
    allowed: dict[int, PlanProposal],
    down: int,
    start: date,
    today: date,
    pre_reason: ReasonCode | None,
) -> Decision:
    if asked in allowed and pre_reason is None:
        return Decision(Outcome.ACCEPTED, plan=allowed[asked])
    if asked in allowed:
        reason = pre_reason
    else:
        probe = build_installment_plan(
            position=position,
            policy=policy,
            count=asked,
            down_payment_minor=down,
            start=start,
            today=today,
        )
        reason = pre_reason or _first_limit_broken(
            policy_violations(probe, policy=policy, position=position, today=today)
        )
    closest = sorted(allowed, key=lambda count: (abs(count - asked), count))[:1]
    options = [allowed[count] for count in closest] + _settlement_options(position, policy, start)
    return _offer(options, position, policy, today, reason)


def _decide_monthly_amount(
    position: DebtPosition,
    policy: PolicyLimits,
    affordable: int,
    allowed: dict[int, PlanProposal],
    start: date,
    today: date,
    pre_reason: ReasonCode | None,
) -> Decision:
    fitting = [plan for _, plan in sorted(allowed.items()) if plan.installment_minor <= affordable]
    if fitting and pre_reason is None:
        return Decision(Outcome.ACCEPTED, plan=fitting[0])
    if fitting:
        return _offer([fitting[0]], position, policy, today, pre_reason)
    if affordable < policy.min_installment_minor:
        reason = ReasonCode.INSTALLMENT_BELOW_MINIMUM
    elif len(allowed) < policy.max_installments:
        reason = ReasonCode.PLAN_TOO_LONG
    else:
        reason = ReasonCode.TOO_MANY_INSTALLMENTS
    lowest = sorted(
        allowed.values(), key=lambda plan: (plan.installment_minor, plan.installment_count)
    )
    options = lowest[:1] + _settlement_options(position, policy, start)
    return _offer(options, position, policy, today, pre_reason or reason)


def _decide_lump_sum(
    position: DebtPosition,
    policy: PolicyLimits,
    offered: int,
    pay_on: date,
    today: date,
    pre_reason: ReasonCode | None,
) -> Decision:
    floor = minimum_settlement(position.outstanding_minor, policy)
    if offered >= floor:
        plan = build_settlement(position=position, amount_minor=offered, pay_on=pay_on)
        if pre_reason is None:
            return Decision(Outcome.ACCEPTED, plan=plan)
        return _offer([plan], position, policy, today, pre_reason)
    options = [build_settlement(position=position, amount_minor=floor, pay_on=pay_on)]
    down = minimum_down_payment(position.outstanding_minor, policy)
    if down < position.outstanding_minor:
        allowed = allowed_installment_plans(
            position=position, policy=policy, down_payment_minor=down, start=pay_on, today=today
        )
        options += [allowed[count] for count in sorted(allowed)[-1:]]
    return _offer(
        options,
        position,
        policy,
        today,
        pre_reason or ReasonCode.SETTLEMENT_DISCOUNT_TOO_HIGH,
    )


def _settlement_options(
    position: DebtPosition, policy: PolicyLimits, pay_on: date
) -> list[PlanProposal]:
    """A discounted lump sum, offered beside installments when the policy grants a discount."""
    if policy.max_settlement_discount_pct <= 0:
        return []
    floor = minimum_settlement(position.outstanding_minor, policy)
    if floor >= position.outstanding_minor:
        return []
    return [build_settlement(position=position, amount_minor=floor, pay_on=pay_on)]


_LIMIT_ORDER = (
    ReasonCode.TOO_MANY_INSTALLMENTS,
    ReasonCode.PLAN_TOO_LONG,
    ReasonCode.INSTALLMENT_BELOW_MINIMUM,
    ReasonCode.DOWN_PAYMENT_TOO_LOW,
    ReasonCode.FIRST_PAYMENT_TOO_LATE,
)


def _first_limit_broken(problems: Iterable[ReasonCode]) -> ReasonCode:
    found = set(problems)
    for reason in _LIMIT_ORDER:
        if reason in found:
            return reason
    return next(iter(found), ReasonCode.TOO_MANY_INSTALLMENTS)


def _offer(
    options: list[PlanProposal],
    position: DebtPosition,
    policy: PolicyLimits,
    today: date,
    reason: ReasonCode | None,
) -> Decision:
    """Counter-offer the options that pass the policy check; refuse if none does."""
    valid = tuple(
        plan
        for plan in options
        if not policy_violations(plan, policy=policy, position=position, today=today)
    )
    if not valid:
        return Decision(Outcome.REFUSED, reason=reason or ReasonCode.TOO_MANY_INSTALLMENTS)
    return Decision(Outcome.COUNTER_OFFER, counter_offers=valid, reason=reason)
