"""The negotiation engine: plain functions, no I/O.

Given a debt's position, the negotiation policy of its risk segment and what the debtor asked
for (a number of installments, an affordable monthly amount or a lump-sum offer), `decide`
returns one of three outcomes:

- ACCEPTED: the plan asked for is allowed as it is;
- COUNTER_OFFER: it is not, and here are the closest plans the policy does allow;
- REFUSED: nothing can be negotiated automatically, with a reason code.

Every plan the engine returns has passed `policy_violations`, an independent check of the
policy, so a plan outside the policy cannot leave this module. Interest on installment plans
is simple interest: `financed × monthly rate × number of installments`, rounded half-even to
the minor unit. Amounts are integer minor units (see `backend.money`).
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from backend.money import percent_of, percent_of_ceil, percent_of_floor, split_evenly


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
    """A concrete plan: what is paid when. Its schedule sums exactly to its total."""

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
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def minimum_down_payment(balance_minor: int, policy: PolicyLimits) -> int:
    return percent_of_ceil(balance_minor, policy.min_down_payment_pct)


def minimum_settlement(balance_minor: int, policy: PolicyLimits) -> int:
    return balance_minor - percent_of_floor(balance_minor, policy.max_settlement_discount_pct)


def plan_interest(financed_minor: int, installment_count: int, policy: PolicyLimits) -> int:
    return percent_of(financed_minor, policy.plan_interest_monthly_pct * installment_count)


def build_installment_plan(
    *,
    position: DebtPosition,
    policy: PolicyLimits,
    count: int,
    down_payment_minor: int,
    start: date,
) -> PlanProposal:
    """Lay out a plan: the down payment (if any) on `start`, then monthly installments.

    Without a down payment the first installment falls on `start`; with one, a month later.
    """
    financed = position.outstanding_minor - down_payment_minor
    interest = plan_interest(financed, count, policy)
    first_offset = 1 if down_payment_minor else 0
    schedule = []
    if down_payment_minor:
        schedule.append(ScheduledPayment(start, down_payment_minor, is_down_payment=True))
    for index, amount in enumerate(split_evenly(financed + interest, count)):
        schedule.append(ScheduledPayment(add_months(start, first_offset + index), amount))
    return PlanProposal(
        kind=PlanKind.INSTALLMENTS,
        currency=position.currency,
        balance_minor=position.outstanding_minor,
        discount_minor=0,
        interest_minor=interest,
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
    financed = plan.balance_minor - plan.down_payment_minor
    if plan.interest_minor != plan_interest(financed, plan.installment_count, policy):
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

    if request.lump_sum_minor is not None:
        return _decide_lump_sum(
            position, policy, request.lump_sum_minor, start, today, start_reason
        )

    down_asked = request.down_payment_minor or 0
    if down_asked > position.outstanding_minor:
        return Decision(Outcome.REFUSED, reason=ReasonCode.DOWN_PAYMENT_EXCEEDS_BALANCE)
    if down_asked == position.outstanding_minor:
        return _decide_lump_sum(position, policy, down_asked, start, today, start_reason)
    down_minimum = minimum_down_payment(position.outstanding_minor, policy)
    # Not mentioning a down payment means "the least the policy allows"; naming one below
    # the minimum gets a counter-offer with the minimum.
    asked_too_little = request.down_payment_minor is not None and down_asked < down_minimum
    down_reason = ReasonCode.DOWN_PAYMENT_TOO_LOW if asked_too_little else None
    down = max(down_asked, down_minimum)
    pre_reason = start_reason or down_reason
    if down >= position.outstanding_minor:
        # The policy asks for everything up front: the only plan is paying in full.
        full = build_settlement(position=position, amount_minor=down, pay_on=start)
        affordable = request.monthly_amount_minor or 0
        asked_single = request.installments == 1 or affordable >= position.outstanding_minor
        if asked_single and pre_reason is None:
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
        )
        if not policy_violations(plan, policy=policy, position=position, today=today):
            plans[count] = plan
    return plans


def gentlest_plan(*, position: DebtPosition, policy: PolicyLimits, today: date) -> PlanProposal:
    """The allowed plan with the lowest payments, for people in hardship.

    Tries starting today and as late as the policy allows, and keeps the one whose regular
    installment is lowest (then the later start). Falls back to paying in full.
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
        return build_settlement(
            position=position, amount_minor=position.outstanding_minor, pay_on=today
        )
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
            position=position, policy=policy, count=asked, down_payment_minor=down, start=start
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
