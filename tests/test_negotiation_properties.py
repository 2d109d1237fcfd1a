"""Property tests: no plan the engine offers breaks its policy or overcharges; sums are exact."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.negotiation.engine import (
    DebtPosition,
    Outcome,
    PlanKind,
    PlanRequest,
    PolicyLimits,
    add_months,
    charged_monthly_pct,
    decide,
    gentlest_plan,
    minimum_settlement,
    policy_violations,
    request_for,
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
        # Equal installments; only the last takes the rounding residue, which is at most
        # half a minor unit per installment, compounded to the last due date.
        assert len(set(regular[:-1])) <= 1
        growth = 1 + Fraction(charged_monthly_pct(plan, policy)) / 100
        residue = Fraction(1, 2) * sum(growth**j for j in range(len(regular) + 1)) + 1
        assert abs(regular[-1] - regular[0]) <= residue


def whole_months_between(since: date, until: date) -> int:
    """Counted one month at a time, independently of the engine's arithmetic."""
    months = 0
    while add_months(since, months + 1) <= until:
        months += 1
    return months


@PROPERTY_SETTINGS
@given(position=positions, policy=policies, request=requests)
def test_interest_is_charged_only_on_what_is_owed_for_the_time_it_is_owed(
    position, policy, request
):
    decision = decide(position=position, policy=policy, request=request, today=today)

    for plan in offered_plans(decision):
        if plan.kind is PlanKind.SETTLEMENT:
            assert plan.interest_minor == 0
            continue
        rate = Fraction(policy.plan_interest_monthly_pct) / 100
        financed = plan.balance_minor - plan.down_payment_minor
        regular = [p for p in plan.schedule if not p.is_down_payment]
        months = [whole_months_between(today, p.due_date) for p in regular]
        # Discounted at the policy's rate for the whole months each is owed, the installments
        # are worth exactly what was financed (only the last is rounded): the stated rate is
        # the real rate on the declining balance, and a payment due today carries no interest.
        present_value = sum(
            p.amount_minor / (1 + rate) ** month for p, month in zip(regular, months, strict=True)
        )
        assert abs(present_value - financed) <= Fraction(1, 2)
        count = len(regular)
        if months[0] <= 1 and months == list(range(months[0], months[0] + count)):
            # Never more than the ordinary annuity for this principal, rate and count, plus
            # at most one minor unit of rounding per installment. (Only for payments a whole
            # month apart: days clamped to a month's end, as 31 January → 28 February → 28
            # March, can put two payments in the same whole month; then the present-value
            # equality above is the guarantee.)
            if rate:
                annuity = count * financed * rate / (1 - (1 + rate) ** -count) - financed
            else:
                annuity = Fraction(0)
            assert plan.interest_minor <= annuity + count
        if months[0] == 0:
            # Paid today or within the first month: all principal, the rest amortises the rest.
            rest = sum(
                p.amount_minor / (1 + rate) ** month
                for p, month in zip(regular[1:], months[1:], strict=True)
            )
            assert abs(rest - (financed - regular[0].amount_minor)) <= Fraction(1, 2)


@PROPERTY_SETTINGS
@given(position=positions, policy=policies, request=requests)
def test_without_interest_a_plan_costs_nothing(position, policy, request):
    policy = replace(policy, plan_interest_monthly_pct=Decimal(0))

    decision = decide(position=position, policy=policy, request=request, today=today)

    for plan in offered_plans(decision):
        assert plan.interest_minor == 0
        assert plan.total_minor == plan.balance_minor - plan.discount_minor


@PROPERTY_SETTINGS
@given(
    position=positions,
    policy=policies,
    excess=st.integers(0, 1_000_000),
    kind=st.sampled_from(["monthly_amount_minor", "lump_sum_minor", "down_payment_minor"]),
    start_date=start_dates,
)
def test_an_ask_at_or_above_the_balance_gets_the_settlement(
    position, policy, excess, kind, start_date
):
    amount = position.outstanding_minor + (0 if kind == "down_payment_minor" else excess)
    ask = {kind: amount, "start_date": start_date}
    if kind == "down_payment_minor":
        ask["installments"] = 3
    request = PlanRequest(**ask)

    decision = decide(position=position, policy=policy, request=request, today=today)

    for plan in offered_plans(decision):
        assert plan.kind is PlanKind.SETTLEMENT and plan.interest_minor == 0
        assert plan.total_minor == minimum_settlement(position.outstanding_minor, policy)


@PROPERTY_SETTINGS
@given(position=positions, policy=policies, request=requests)
def test_every_offered_plan_is_agreed_exactly_by_its_request(position, policy, request):
    decision = decide(position=position, policy=policy, request=request, today=today)

    for plan in offered_plans(decision):
        again = decide(position=position, policy=policy, request=request_for(plan), today=today)
        assert again.outcome is Outcome.ACCEPTED and again.plan == plan


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
        if request.lump_sum_minor >= position.outstanding_minor:
            assert plan.total_minor == minimum_settlement(position.outstanding_minor, policy)
        else:
            assert plan.total_minor == request.lump_sum_minor
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
