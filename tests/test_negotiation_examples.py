"""The engine on concrete cases a collections team would check by hand."""

from datetime import date
from decimal import Decimal

import pytest

from backend.negotiation.engine import (
    DebtPosition,
    Outcome,
    PlanKind,
    PlanRequest,
    PolicyLimits,
    ReasonCode,
    add_months,
    decide,
    gentlest_plan,
)

TODAY = date(2026, 1, 31)
MEDIUM = PolicyLimits(
    max_installments=12,
    min_down_payment_pct=Decimal("0"),
    min_installment_minor=8000,
    max_plan_days=370,
    max_days_to_first_payment=10,
    max_settlement_discount_pct=Decimal("15"),
    plan_interest_monthly_pct=Decimal("0"),
    max_broken_promises=1,
)
R_1020 = DebtPosition(outstanding_minor=102000, currency="BRL", status="overdue")


def ask(**kwargs):
    return decide(position=R_1020, policy=MEDIUM, request=PlanRequest(**kwargs), today=TODAY)


def test_24_installments_asked_12_of_r_85_offered():
    decision = ask(installments=24)

    assert decision.outcome is Outcome.COUNTER_OFFER
    assert decision.reason is ReasonCode.TOO_MANY_INSTALLMENTS
    closest = decision.counter_offers[0]
    assert closest.installment_count == 12
    assert {p.amount_minor for p in closest.schedule} == {8500}


def test_an_allowed_count_is_accepted_as_asked():
    decision = ask(installments=6)

    assert decision.outcome is Outcome.ACCEPTED
    assert [p.amount_minor for p in decision.plan.schedule] == [17000] * 6
    assert decision.plan.first_due_date == TODAY
    assert decision.plan.last_due_date == date(2026, 6, 30)  # month ends are clamped


def test_an_affordable_amount_picks_the_shortest_plan_that_fits():
    decision = ask(monthly_amount_minor=20000)

    assert decision.outcome is Outcome.ACCEPTED
    assert decision.plan.installment_count == 6  # 5 would be R$ 204,00
    assert decision.plan.installment_minor <= 20000


def test_an_amount_below_the_minimum_installment_gets_the_gentlest_plan():
    decision = ask(monthly_amount_minor=5000)

    assert decision.reason is ReasonCode.INSTALLMENT_BELOW_MINIMUM
    assert decision.counter_offers[0].installment_count == 12


def test_a_lump_sum_within_the_discount_settles_the_debt():
    decision = ask(lump_sum_minor=90000)

    assert decision.outcome is Outcome.ACCEPTED
    assert decision.plan.kind is PlanKind.SETTLEMENT
    assert decision.plan.discount_minor == 12000


def test_a_lump_sum_beyond_the_discount_is_countered_with_the_best_allowed():
    decision = ask(lump_sum_minor=50000)

    assert decision.reason is ReasonCode.SETTLEMENT_DISCOUNT_TOO_HIGH
    assert decision.counter_offers[0].total_minor == 86700  # 15% off R$ 1.020,00


def test_a_late_start_is_moved_to_the_latest_allowed_day():
    decision = ask(installments=3, start_date=date(2026, 3, 1))

    assert decision.reason is ReasonCode.FIRST_PAYMENT_TOO_LATE
    assert decision.counter_offers[0].first_due_date == date(2026, 2, 10)


def test_interest_is_simple_monthly_on_the_financed_amount():
    policy = PolicyLimits(
        **{
            **MEDIUM.__dict__,
            "plan_interest_monthly_pct": Decimal("2"),
            "min_down_payment_pct": Decimal("10"),
        }
    )
    decision = decide(
        position=R_1020, policy=policy, request=PlanRequest(installments=4), today=TODAY
    )

    plan = decision.plan
    assert plan.down_payment_minor == 10200
    assert plan.interest_minor == 7344  # 918,00 × 2% × 4
    assert plan.total_minor == 102000 + 7344
    assert plan.schedule[0].is_down_payment and plan.schedule[0].due_date == TODAY
    assert plan.schedule[1].due_date == date(2026, 2, 28)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("disputed", ReasonCode.DEBT_DISPUTED),
        ("paid", ReasonCode.DEBT_PAID),
        ("written_off", ReasonCode.DEBT_WRITTEN_OFF),
        ("in_plan", ReasonCode.PLAN_ALREADY_ACTIVE),
    ],
)
def test_debts_that_cannot_be_negotiated_are_refused(status, reason):
    position = DebtPosition(outstanding_minor=102000, currency="BRL", status=status)

    decision = decide(
        position=position, policy=MEDIUM, request=PlanRequest(installments=3), today=TODAY
    )

    assert decision.outcome is Outcome.REFUSED and decision.reason is reason


def test_too_many_broken_promises_needs_a_human():
    position = DebtPosition(
        outstanding_minor=102000, currency="BRL", status="overdue", broken_promises=2
    )

    decision = decide(
        position=position, policy=MEDIUM, request=PlanRequest(installments=3), today=TODAY
    )

    assert decision.reason is ReasonCode.TOO_MANY_BROKEN_PROMISES


def test_the_gentlest_plan_spreads_as_far_as_the_policy_allows():
    plan = gentlest_plan(position=R_1020, policy=MEDIUM, today=TODAY)

    assert plan.installment_count == 12
    assert plan.first_due_date == date(2026, 2, 10)  # as late as allowed


def test_add_months_clamps_to_the_end_of_short_months():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
