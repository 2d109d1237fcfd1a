"""Property tests: no plan the engine returns breaks its policy, and every schedule is exact."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.negotiation.engine import (
    DebtPosition,
    Outcome,
    PlanKind,
    PlanRequest,
    PolicyLimits,
    decide,
    gentlest_plan,
    policy_violations,
)

PROPERTY_SETTINGS = settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

percent = st.decimals(min_value=0, max_value=60, places=2)

policies = st.builds(
    PolicyLimits,
    max_installments=st.integers(1, 36),
    min_down_payment_pct=percent,
    min_installment_minor=st.integers(1, 50_000),
    max_plan_days=st.integers(31, 1200),
    max_days_to_first_payment=st.integers(0, 30),
    max_settlement_discount_pct=percent,
    plan_interest_monthly_pct=st.decimals(min_value=0, max_value=5, places=2),
    max_broken_promises=st.integers(0, 3),
)

positions = st.builds(
    DebtPosition,
    outstanding_minor=st.integers(1, 5_000_000),
    currency=st.sampled_from(["BRL", "EUR", "USD"]),
    status=st.sampled_from(["current", "overdue"]),
    broken_promises=st.integers(0, 2),
)

today = date(2026, 1, 31)
start_dates = st.none() | st.dates(min_value=today, max_value=today + timedelta(days=60))
down_payments = st.none() | st.integers(0, 5_000_000)

requests = st.one_of(
    st.builds(
        PlanRequest,
        installments=st.integers(1, 60),
        down_payment_minor=down_payments,
        start_date=start_dates,
    ),
    st.builds(
        PlanRequest,
        monthly_amount_minor=st.integers(1, 2_000_000),
        down_payment_minor=down_payments,
        start_date=start_dates,
    ),
    st.builds(PlanRequest, lump_sum_minor=st.integers(1, 6_000_000), start_date=start_dates),
)


def offered_plans(decision):
    return ([decision.plan] if decision.plan else []) + list(decision.counter_offers)


@PROPERTY_SETTINGS
@given(position=positions, policy=policies, request=requests)
def test_no_plan_the_engine_offers_breaks_the_policy(position, policy, request):
    decision = decide(position=position, policy=policy, request=request, today=today)

    for plan in offered_plans(decision):
        assert policy_violations(plan, policy=policy, position=position, today=today) == []
        assert plan.installment_count <= policy.max_installments
        assert (plan.last_due_date - today).days <= policy.max_plan_days
        assert 0 <= (plan.first_due_date - today).days <= policy.max_days_to_first_payment
        if plan.kind is PlanKind.SETTLEMENT:
            granted = Decimal(plan.discount_minor) / Decimal(plan.balance_minor) * 100
            assert granted <= policy.max_settlement_discount_pct
        else:
            assert plan.down_payment_minor * 100 >= plan.balance_minor * policy.min_down_payment_pct
            if plan.installment_count > 1:
                assert plan.installment_minor >= policy.min_installment_minor


@PROPERTY_SETTINGS
@given(position=positions, policy=policies, request=requests)
def test_installments_always_sum_exactly_to_the_total(position, policy, request):
    decision = decide(position=position, policy=policy, request=request, today=today)

    for plan in offered_plans(decision):
        assert sum(p.amount_minor for p in plan.schedule) == plan.total_minor
        assert plan.total_minor == plan.balance_minor - plan.discount_minor + plan.interest_minor
        assert all(p.amount_minor > 0 for p in plan.schedule)
        regular = [p.amount_minor for p in plan.schedule if not p.is_down_payment]
        assert max(regular) - min(regular) <= 1


@PROPERTY_SETTINGS
@given(position=positions, policy=policies, request=requests)
def test_every_outcome_is_explained(position, policy, request):
    decision = decide(position=position, policy=policy, request=request, today=today)

    if decision.outcome is Outcome.ACCEPTED:
        assert decision.plan is not None and decision.reason is None
    elif decision.outcome is Outcome.COUNTER_OFFER:
        assert decision.counter_offers and decision.reason is not None
    else:
        assert decision.reason is not None and not offered_plans(decision)


@PROPERTY_SETTINGS
@given(position=positions, policy=policies, request=requests)
def test_an_accepted_plan_is_what_was_asked(position, policy, request):
    decision = decide(position=position, policy=policy, request=request, today=today)
    if decision.outcome is not Outcome.ACCEPTED:
        return
    plan = decision.plan
    if request.installments is not None and plan.kind is PlanKind.INSTALLMENTS:
        assert plan.installment_count == request.installments
    if request.monthly_amount_minor is not None and plan.kind is PlanKind.INSTALLMENTS:
        assert plan.installment_minor <= request.monthly_amount_minor
    if request.lump_sum_minor is not None:
        assert plan.total_minor == min(request.lump_sum_minor, position.outstanding_minor)
    if request.start_date is not None:
        assert plan.first_due_date == request.start_date


@PROPERTY_SETTINGS
@given(position=positions, policy=policies)
def test_the_gentlest_plan_is_allowed_and_no_allowed_installment_is_lower(position, policy):
    plan = gentlest_plan(position=position, policy=policy, today=today)

    assert policy_violations(plan, policy=policy, position=position, today=today) == []
    for count in range(1, policy.max_installments + 1):
        decision = decide(
            position=position,
            policy=policy,
            request=PlanRequest(installments=count),
            today=today,
        )
        if decision.outcome is Outcome.ACCEPTED:
            assert plan.installment_minor <= decision.plan.installment_minor
