"""The risk scorecard: points per behaviour factor, a segment, a likelihood of paying, a priority.

A pure function of plain facts (`DebtorBehaviour`), so every figure it gives can be explained
and recomputed by hand. It is an EXPERT scorecard: the bands and points below encode common
collections practice (the longer overdue, the less is recovered; kept promises and payments are
the best predictors of the next payment), not a model fitted to data. A creditor should
calibrate the points, thresholds and likelihood curve on its own outcomes (who actually paid
within, say, 90 days of a score) before relying on the likelihood as a probability.

Reading the score: the higher, the lower the risk. It is `BASE_POINTS` plus each factor's
points; every factor is reported as a reason `{"factor", "value", "points"}`, the base first,
so the reasons always add up to the score.

- segment: `low` from `LOW_RISK_MIN_SCORE`, `medium` from `MEDIUM_RISK_MIN_SCORE`, else `high`;
- likelihood of paying: the logistic curve `1 / (1 + e^(−(score − MIDPOINT) / SCALE))`,
  rounded to 4 decimals: monotone in the score, 0.5 at the midpoint;
- recovery priority: the open balance (minor units) × that rounded likelihood, rounded half-even
  to a whole minor unit: the expected recovery that orders campaigns and the staff queue.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from backend.money import to_decimal

LOW = "low"
MEDIUM = "medium"
HIGH = "high"
SEGMENTS = (LOW, MEDIUM, HIGH)

BASE_POINTS = 50
LOW_RISK_MIN_SCORE = 60  # score >= 60: low risk
MEDIUM_RISK_MIN_SCORE = 35  # 35 <= score < 60: medium risk; below: high risk

# The likelihood of paying is 0.5 at this score and moves by a factor e in odds every SCALE
# points: 80 → 0.92, 65 → 0.78, 50 → 0.50, 35 → 0.22, 20 → 0.08.
LIKELIHOOD_MIDPOINT = 50
LIKELIHOOD_SCALE = 12
LIKELIHOOD_QUANTUM = Decimal("0.0001")  # as stored: Numeric(5, 4)

# Days past due of the oldest open debt (a plan's oldest unpaid installment stands for its
# debt), in the usual delinquency buckets (current, 1–29, 30–59, 60–89, 90–179, 180+):
# (up to this many days, points); beyond the last band, OVERDUE_BEYOND_POINTS.
OVERDUE_BANDS = ((0, 10), (29, 0), (59, -10), (89, -20), (179, -30))
OVERDUE_BEYOND_POINTS = -40

# Promises resolved in the last PROMISE_WINDOW_DAYS, counted up to PROMISES_COUNTED each.
PROMISE_WINDOW_DAYS = 365
PROMISES_COUNTED = 3
POINTS_PER_KEPT_PROMISE = 8
POINTS_PER_BROKEN_PROMISE = -12

# Plans that ended in the last PLAN_WINDOW_DAYS, up to PLANS_COUNTED each; the active plan.
PLAN_WINDOW_DAYS = 730
PLANS_COUNTED = 2
POINTS_PER_COMPLETED_PLAN = 15
POINTS_PER_BROKEN_PLAN = -20
ACTIVE_PLAN_IN_GOOD_STANDING_POINTS = 15
ACTIVE_PLAN_LATE_POINTS = -10

# Payments received in the last PAYMENT_WINDOW_DAYS: (at least this many, points), best first.
PAYMENT_WINDOW_DAYS = 90
PAYMENT_BANDS = ((2, 20), (1, 10), (0, 0))

# Days since the debtor last wrote to us on any channel: (up to, points); never or older: 0.
INBOUND_BANDS = ((30, 10), (90, 5))

# Open balance in major units of its currency: (up to, points); above the last band, the rest.
# The same bands for every currency: a rough proxy, to be set per creditor when calibrating.
BALANCE_BANDS = ((Decimal(500), 10), (Decimal(2_000), 5), (Decimal(10_000), 0))
BALANCE_ABOVE_POINTS = -10


class PlanStanding(str, enum.Enum):
    """The debtor's active payment plan, if any."""

    NONE = "none"
    GOOD_STANDING = "good_standing"  # no installment late
    LATE = "late"  # an installment is late (unpaid past the policy's grace days)


class Contactability(str, enum.Enum):
    """Whether the assistant can reach the debtor at all."""

    BOUND_CHANNEL = "bound_channel"  # a chat bound to them that has not said STOP
    ADDRESS_ONLY = "address_only"  # no such chat, but an e-mail address not unsubscribed
    NONE_ON_FILE = "none_on_file"  # nothing to reach them on
    OPTED_OUT = "opted_out_everywhere"  # every way we have to reach them said stop


CONTACTABILITY_POINTS = {
    Contactability.BOUND_CHANNEL: 10,
    Contactability.ADDRESS_ONLY: 0,
    Contactability.NONE_ON_FILE: -10,
    Contactability.OPTED_OUT: -20,
}


@dataclass(frozen=True)
class DebtorBehaviour:
    """The facts the scorecard reads, gathered by `backend.segments.service`.

    Open debts are those still being collected: current, overdue and in a plan (disputed debts
    are paused; paid and written-off ones closed). Their balance is summed in `currency`, the
    currency of the oldest open debt: no exchange rates are held, so open debts in another
    currency (rare: a debtor owes one creditor, in its country's money) add nothing to it.
    """

    days_overdue: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    plans_completed: int = 0
    plans_broken: int = 0
    active_plan: PlanStanding = PlanStanding.NONE
    payments_recent: int = 0
    contactability: Contactability = Contactability.BOUND_CHANNEL
    days_since_inbound: int | None = None
    open_balance_minor: int = 0
    currency: str | None = None


@dataclass(frozen=True)
class Reason:
    """One factor of the score: what was seen and the points it gave. Codes, never prose."""

    factor: str
    value: Any
    points: int

    def as_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "value": self.value, "points": self.points}


@dataclass(frozen=True)
class Scorecard:
    score: int
    segment: str
    pay_likelihood: Decimal
    recovery_priority_minor: int
    reasons: tuple[Reason, ...]

    def reasons_as_dicts(self) -> list[dict[str, Any]]:
        return [reason.as_dict() for reason in self.reasons]


def score(facts: DebtorBehaviour) -> Scorecard:
    """Score the debtor's behaviour; see the module docstring for the reading."""
    balance_major = to_decimal(facts.open_balance_minor, facts.currency) if facts.currency else 0
    reasons = (
        Reason("base", None, BASE_POINTS),
        Reason("days_overdue", facts.days_overdue, _overdue_points(facts.days_overdue)),
        Reason(
            "promises_kept",
            facts.promises_kept,
            POINTS_PER_KEPT_PROMISE * min(facts.promises_kept, PROMISES_COUNTED),
        ),
        Reason(
            "promises_broken",
            facts.promises_broken,
            POINTS_PER_BROKEN_PROMISE * min(facts.promises_broken, PROMISES_COUNTED),
        ),
        Reason(
            "plans_completed",
            facts.plans_completed,
            POINTS_PER_COMPLETED_PLAN * min(facts.plans_completed, PLANS_COUNTED),
        ),
        Reason(
            "plans_broken",
            facts.plans_broken,
            POINTS_PER_BROKEN_PLAN * min(facts.plans_broken, PLANS_COUNTED),
        ),
        Reason("active_plan", facts.active_plan.value, _active_plan_points(facts.active_plan)),
        Reason(
            "payments_recent",
            facts.payments_recent,
            _first_band(PAYMENT_BANDS, facts.payments_recent, at_least=True),
        ),
        Reason(
            "contactability",
            facts.contactability.value,
            CONTACTABILITY_POINTS[facts.contactability],
        ),
        Reason("days_since_inbound", facts.days_since_inbound, _inbound_points(facts)),
        Reason(
            "open_balance",
            {"minor": facts.open_balance_minor, "currency": facts.currency},
            _balance_points(balance_major),
        ),
    )
    total = sum(reason.points for reason in reasons)
    likelihood = pay_likelihood(total)
    return Scorecard(
        score=total,
        segment=segment_for(total),
        pay_likelihood=likelihood,
        recovery_priority_minor=recovery_priority(facts.open_balance_minor, likelihood),
        reasons=reasons,
    )


def segment_for(score_points: int) -> str:
    if score_points >= LOW_RISK_MIN_SCORE:
        return LOW
    if score_points >= MEDIUM_RISK_MIN_SCORE:
        return MEDIUM
    return HIGH


def pay_likelihood(score_points: int) -> Decimal:
    """The logistic curve on the score, rounded half-even to 4 decimals (monotone, in [0, 1])."""
    # In Decimal, whose exp() is correctly rounded: the same figure on every machine.
    exponent = Decimal(LIKELIHOOD_MIDPOINT - score_points) / LIKELIHOOD_SCALE
    probability = 1 / (1 + exponent.exp())
    return probability.quantize(LIKELIHOOD_QUANTUM, rounding=ROUND_HALF_EVEN)


def recovery_priority(open_balance_minor: int, likelihood: Decimal) -> int:
    """Expected recovery in minor units: balance × likelihood, rounded half-even."""
    return int((open_balance_minor * likelihood).to_integral_value(rounding=ROUND_HALF_EVEN))


def _overdue_points(days: int) -> int:
    for limit, points in OVERDUE_BANDS:
        if days <= limit:
            return points
    return OVERDUE_BEYOND_POINTS


def _active_plan_points(standing: PlanStanding) -> int:
    if standing is PlanStanding.GOOD_STANDING:
        return ACTIVE_PLAN_IN_GOOD_STANDING_POINTS
    if standing is PlanStanding.LATE:
        return ACTIVE_PLAN_LATE_POINTS
    return 0


def _inbound_points(facts: DebtorBehaviour) -> int:
    if facts.days_since_inbound is None:
        return 0
    return _first_band(INBOUND_BANDS, facts.days_since_inbound, default=0)


def _balance_points(balance_major: Decimal | int) -> int:
    return _first_band(BALANCE_BANDS, balance_major, default=BALANCE_ABOVE_POINTS)


def _first_band(bands, value, *, at_least: bool = False, default: int = 0) -> int:
    """The points of the first band `value` falls in: up to its limit, or at least it."""
    for limit, points in bands:
        if (value >= limit) if at_least else (value <= limit):
            return points
    return default
