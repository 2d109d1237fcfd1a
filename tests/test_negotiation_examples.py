"""The engine on concrete cases a collections team would check by hand."""

from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from backend.negotiation.engine import (
    DebtPosition,
    Outcome,
    PlanKind,
    PlanRequest,
    PolicyLimits,
    ReasonCode,
    add_months,
    annuity_payments,
    decide,
    effective_annual_pct,
    gentlest_plan,
    policy_violations,
    request_for,
    whole_months,
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


def with_interest(pct: str, **overrides) -> PolicyLimits:
    return PolicyLimits(
        **{**MEDIUM.__dict__, "plan_interest_monthly_pct": Decimal(pct), **overrides}
    )


def test_r_1000_at_2_percent_in_3_installments_a_month_apart():
    # PMT = 1000 × 0.02 / (1 − 1.02^−3) = 346.7547… → 346,75. Owed before the last:
    # 1000 × 1.02^3 − 346,75 × (1.02^2 + 1.02) = 346.7644… → 346,76 (the residue).
    assert annuity_payments(100000, Decimal("2"), [1, 2, 3]) == [34675, 34675, 34676]
    assert sum(annuity_payments(100000, Decimal("2"), [1, 2, 3])) == 104026


def test_a_plan_with_a_down_payment_amortises_the_rest_on_the_declining_balance():
    policy = with_interest("2", min_down_payment_pct=Decimal("10"))

    plan = decide(
        position=R_1020, policy=policy, request=PlanRequest(installments=4), today=TODAY
    ).plan

    assert plan.down_payment_minor == 10200  # paid today: never financed, no interest
    assert plan.schedule[0].is_down_payment and plan.schedule[0].due_date == TODAY
    assert plan.schedule[1].due_date == date(2026, 2, 28)
    # 918,00 at 2%: PMT 241,0886… → 241,09; balances 695,27 · 468,09 · 236,36 → last 241,08.
    assert [p.amount_minor for p in plan.schedule[1:]] == [24109, 24109, 24109, 24108]
    assert plan.interest_minor == 4635  # flat interest (918 × 2% × 4) would be 73,44
    assert plan.total_minor == 102000 + 4635


def test_an_installment_due_today_carries_no_interest():
    # No down payment, first installment today: an annuity-due. R$ 1.000 at 2% in 2:
    # PMT = 1000 × 0.02 / (1.02 × (1 − 1.02^−2)) = 504.95…; the first repays only principal,
    # the second is (1000 − 504,95) × 1.02 = 504,951 → 504,95: interest 9,90 = 2% of 495,05.
    policy = with_interest("2")
    position = DebtPosition(outstanding_minor=100000, currency="BRL", status="overdue")

    plan = decide(
        position=position, policy=policy, request=PlanRequest(installments=2), today=TODAY
    ).plan

    assert [(p.due_date, p.amount_minor) for p in plan.schedule] == [
        (TODAY, 50495),
        (date(2026, 2, 28), 50495),
    ]
    assert plan.interest_minor == 990
    single = decide(
        position=position, policy=policy, request=PlanRequest(installments=1), today=TODAY
    ).plan
    assert single.interest_minor == 0 and single.total_minor == 100000


def test_a_first_installment_two_whole_months_away_carries_two_months_of_interest():
    assert whole_months(date(2026, 1, 31), date(2026, 4, 2)) == 2
    policy = with_interest("2", min_down_payment_pct=Decimal("10"), max_days_to_first_payment=30)

    plan = decide(
        position=R_1020,
        policy=policy,
        request=PlanRequest(installments=3, start_date=date(2026, 3, 2)),
        today=TODAY,
    ).plan

    assert plan.schedule[1].due_date == date(2026, 4, 2)
    regular = [p.amount_minor for p in plan.schedule[1:]]
    assert regular == annuity_payments(91800, Decimal("2"), [2, 3, 4])
    assert regular[0] > annuity_payments(91800, Decimal("2"), [1, 2, 3])[0]


def test_the_stated_monthly_rate_is_the_real_one():
    # 12 × R$ 201,57 for R$ 2.200 a month away: discounting at 1.49% gives back the principal.
    payments = annuity_payments(220000, Decimal("1.49"), range(1, 13))
    assert payments == [20157] * 12
    present_value = sum(
        Fraction(amount) / Fraction("1.0149") ** month
        for month, amount in enumerate(payments, start=1)
    )
    assert abs(present_value - 220000) < 1
    assert sum(payments) - 220000 == 21884  # flat interest would be 393,36


@pytest.mark.parametrize(
    ("monthly", "annual"),
    [("1.49", "19.42"), ("2", "26.82"), ("1.99", "26.68"), ("0", "0.00")],
)
def test_the_effective_annual_rate_compounds_the_monthly_one(monthly, annual):
    assert effective_annual_pct(Decimal(monthly)) == Decimal(annual)


def test_a_monthly_amount_at_or_above_the_balance_gets_the_settlement():
    policy = with_interest("2")

    for amount in (102000, 500000):
        decision = decide(
            position=R_1020,
            policy=policy,
            request=PlanRequest(monthly_amount_minor=amount),
            today=TODAY,
        )
        assert decision.outcome is Outcome.ACCEPTED
        assert decision.plan.kind is PlanKind.SETTLEMENT
        assert decision.plan.total_minor == 86700  # with the 15% the policy allows
        assert decision.plan.interest_minor == 0


def test_a_lump_sum_of_the_whole_balance_gets_the_full_discount():
    decision = ask(lump_sum_minor=102000)

    assert decision.plan.kind is PlanKind.SETTLEMENT
    assert decision.plan.total_minor == 86700


def test_every_offered_plan_is_reproduced_by_its_request():
    policy = with_interest("1.99", min_down_payment_pct=Decimal("10"))
    decision = decide(
        position=R_1020, policy=policy, request=PlanRequest(installments=24), today=TODAY
    )

    for plan in decision.counter_offers:
        again = decide(position=R_1020, policy=policy, request=request_for(plan), today=TODAY)
        assert again.outcome is Outcome.ACCEPTED and again.plan == plan


def test_a_schedule_that_charges_more_than_the_annuity_is_a_violation():
    policy = with_interest("2")
    plan = decide(
        position=R_1020, policy=policy, request=PlanRequest(installments=3), today=TODAY
    ).plan
    flat = [*plan.schedule[:-1], replace(plan.schedule[-1], amount_minor=40000)]
    padded = replace(
        plan,
        schedule=tuple(flat),
        interest_minor=plan.interest_minor + 40000 - plan.schedule[-1].amount_minor,
    )

    problems = policy_violations(padded, policy=policy, position=R_1020, today=TODAY)

    assert ReasonCode.INTEREST_MISMATCH in problems


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
