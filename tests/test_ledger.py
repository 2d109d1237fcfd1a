"""Late interest and fees: exact by hand, balance = principal + accrued − paid, idempotent."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
from alembic import command
from fastapi import Depends
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from backend.db import session_factory
from backend.debts.models import DebtStatus
from backend.deps import require_contact_signature, require_service_token
from backend.ledger import service as ledger
from backend.ledger.accrual import BalanceEvent, DebtTerms, EventKind, accrue
from backend.ledger.models import EntryKind, LedgerEntry
from backend.ledger.views import router as ledger_router
from backend.migrate import alembic_config
from backend.payments import service as payments
from backend.payments.schemas import PaymentCreate
from tests import factories

DAY = timedelta(days=1)
API_PREFIX = "/api/v1"
WEB = f"{API_PREFIX}/contacts/webchat"


def terms(principal=100000, due=date(2028, 1, 31), monthly="1", fee="2", opened_on=None):
    return DebtTerms(principal, due, Decimal(monthly), Decimal(fee), opened_on)


def interest(accruals) -> int:
    return sum(a.amount_minor for a in accruals if a.kind is EntryKind.INTEREST)


def fee(accruals) -> int:
    return sum(a.amount_minor for a in accruals if a.kind is EntryKind.LATE_FEE)


# --- by hand ----------------------------------------------------------------------------


def test_a_leap_february_costs_29_thirtieths_of_the_monthly_rate_and_the_fee_once():
    accruals = accrue(terms(), [], date(2028, 2, 29))

    # R$ 1.000,00 at 1% a month: 29 days × 10,00/30 = 9,6667 → 9,67; the fee 2% = 20,00.
    (late_fee, february) = accruals
    assert (late_fee.kind, late_fee.amount_minor, late_fee.effective_date) == (
        EntryKind.LATE_FEE,
        2000,
        date(2028, 2, 1),
    )
    assert february.amount_minor == 967
    assert (february.period_start, february.period_end) == (date(2028, 2, 1), date(2028, 2, 29))


def test_a_31_day_month_costs_31_thirtieths_and_months_round_without_drift():
    accruals = accrue(terms(due=date(2026, 2, 28)), [], date(2026, 4, 30))

    march, april = [a for a in accruals if a.kind is EntryKind.INTEREST]
    assert march.amount_minor == 1033  # 31 × 1000/30 = 1033,33
    # Cumulative 61 days = 2033,33 → 2033: April is the difference, not its own 1000.
    assert april.amount_minor == 1000
    assert fee(accruals) == 2000


def test_tiny_daily_amounts_add_up_instead_of_rounding_away():
    small = terms(principal=1000, due=date(2026, 3, 31))  # 0,33 minor units a day

    assert interest(accrue(small, [], date(2026, 4, 30))) == 10  # 30 days × 1000 × 1%/30
    assert interest(accrue(small, [], date(2026, 4, 2))) == 1  # 0,667 → 1


def test_interest_starts_the_day_after_the_due_date():
    assert accrue(terms(), [], date(2028, 1, 31)) == []
    one_day = accrue(terms(), [], date(2028, 2, 1))
    assert interest(one_day) == 33 and fee(one_day) == 2000


def test_payments_go_to_fees_then_interest_then_principal():
    # Day 10 (2028-02-10): fee 2000 + interest 10 days 333,33 → 333 paid, 167 of principal.
    paid = [BalanceEvent(date(2028, 2, 10), EventKind.PAYMENT, 2500)]

    accruals = accrue(terms(), paid, date(2028, 2, 29))

    exact = Fraction(100000 * 10, 3000) + Fraction((100000 - 167) * 19, 3000)
    assert interest(accruals) == round(exact)


def test_a_paid_debt_stops_accruing():
    paid = [BalanceEvent(date(2028, 2, 5), EventKind.PAYMENT, 10**9)]

    before = interest(accrue(terms(), paid, date(2028, 2, 5)))
    assert (
        interest(accrue(terms(), paid, date(2028, 6, 30)))
        == before
        == round(Fraction(100000 * 5, 3000))
    )


def test_nothing_accrues_in_a_plan_and_it_resumes_after_it_breaks():
    plan = [
        BalanceEvent(date(2028, 2, 10), EventKind.PLAN_STARTED),
        BalanceEvent(date(2028, 3, 10), EventKind.PLAN_ENDED),
    ]

    accruals = accrue(terms(), plan, date(2028, 3, 20))

    # 10 days before the plan and 10 after it (11..20 March), none in between.
    assert interest(accruals) == round(Fraction(100000 * 20, 3000))


def test_a_plan_agreed_before_the_due_date_leaves_no_late_fee():
    plan = [BalanceEvent(date(2028, 1, 20), EventKind.PLAN_STARTED)]

    assert accrue(terms(), plan, date(2028, 6, 30)) == []


def test_a_written_off_debt_accrues_nothing_from_that_day():
    written_off = [BalanceEvent(date(2028, 2, 11), EventKind.WRITTEN_OFF)]

    assert interest(accrue(terms(), written_off, date(2028, 6, 30))) == round(
        Fraction(100000 * 10, 3000)
    )


def test_the_opening_statement_covers_its_day_and_the_fee_it_came_with():
    opened = terms(opened_on=date(2028, 2, 15))

    accruals = accrue(opened, [], date(2028, 2, 20))

    assert fee(accruals) == 0
    assert interest(accruals) == round(Fraction(100000 * 5, 3000))


def test_no_interest_on_fees_or_interest():
    charged = [
        BalanceEvent(date(2028, 1, 1), EventKind.FEE, 50000),
        BalanceEvent(date(2028, 1, 1), EventKind.INTEREST, 70000),
    ]
    assert interest(accrue(terms(), charged, date(2028, 5, 31))) == interest(
        accrue(terms(), [], date(2028, 5, 31))
    )


# --- properties of the pure function ----------------------------------------------------

START = date(2024, 1, 1)
events = st.lists(
    st.tuples(
        st.integers(0, 400),
        st.sampled_from([EventKind.PAYMENT, EventKind.DISCOUNT, EventKind.FEE]),
        st.integers(1, 200000),
    ),
    max_size=6,
)
debt_terms = st.builds(
    lambda principal, due, monthly, fee: DebtTerms(
        principal, START + timedelta(days=due), monthly, fee
    ),
    st.integers(0, 10**7),
    st.integers(0, 200),
    st.decimals(min_value=0, max_value=20, places=3),
    st.decimals(min_value=0, max_value=20, places=3),
)


@settings(max_examples=200, deadline=None)
@given(debt_terms, events, st.integers(0, 600))
def test_interest_is_simple_on_principal_and_never_above_it(terms_, raw, days):
    history = [BalanceEvent(START + timedelta(days=d), kind, amount) for d, kind, amount in raw]
    through = START + timedelta(days=days)

    accruals = accrue(terms_, history, through)

    late_days = max((through - terms_.due_date).days, 0)
    ceiling = Fraction(terms_.principal_minor) * Fraction(terms_.late_interest_monthly_pct)
    ceiling = ceiling * late_days / 3000
    assert 0 <= interest(accruals) <= round(ceiling)
    assert all(a.amount_minor >= 0 for a in accruals)
    assert fee(accruals) <= round(
        Fraction(terms_.principal_minor) * Fraction(terms_.late_fee_pct) / 100
    )
    if not any(kind is not EventKind.FEE for _, kind, _ in raw):  # no payment, no discount
        assert interest(accruals) == round(ceiling)


@settings(max_examples=200, deadline=None)
@given(debt_terms, events, st.integers(0, 600), st.integers(0, 600))
def test_what_accrued_up_to_a_day_never_changes_later(terms_, raw, early, late):
    history = [BalanceEvent(START + timedelta(days=d), kind, amount) for d, kind, amount in raw]
    first, second = sorted((START + timedelta(days=early), START + timedelta(days=late)))

    before = accrue(terms_, history, first)
    after = accrue(terms_, history, second)

    # Every complete month and the fee stay as they were: only the open month grows.
    closed = [a for a in before if a.period_end < first or a.kind is EntryKind.LATE_FEE]
    assert all(a in after for a in closed)
    assert interest(after) >= interest(before)


# --- the ledger in the database ---------------------------------------------------------

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)  # 12:00 in São Paulo


def entries(db_session, debt):
    return db_session.scalars(
        select(LedgerEntry).where(LedgerEntry.debt_id == debt.id).order_by(LedgerEntry.id)
    ).all()


def assert_explained(db_session, debt):
    db_session.refresh(debt)
    assert debt.outstanding_minor == ledger.ledger_balance(db_session=db_session, debt_id=debt.id)


def test_opening_explains_the_balance_it_came_with(db_session):
    _, debt = factories.debtor_with_debt(db_session, outstanding_minor=200000)

    ledger.open_debt(db_session=db_session, debt=debt, now=NOW)
    ledger.open_debt(db_session=db_session, debt=debt, now=NOW)
    db_session.commit()

    by_key = {e.entry_key: e.amount_minor for e in entries(db_session, debt)}
    assert by_key == {
        "opening:principal": 200000,
        "opening:fees": 15090,
        "opening:interest": 30000,
        "opening:paid": -45090,
    }
    assert debt.accrued_through == date(2026, 11, 24)
    assert_explained(db_session, debt)


def test_accrual_posts_dated_entries_once_and_updates_the_debt(db_session):
    _, debt = factories.debtor_with_debt(
        db_session,
        principal_minor=300000,
        fees_minor=0,
        interest_minor=0,
        outstanding_minor=300000,
        due_date=date(2026, 10, 31),
        status=DebtStatus.CURRENT,
    )
    ledger.open_debt(db_session=db_session, debt=debt, now=NOW - timedelta(days=30))  # 25 Oct
    db_session.commit()

    posted = ledger.accrue_all(db_session=db_session, now=NOW)
    again = ledger.accrue_all(db_session=db_session, now=NOW)

    assert (posted, again) == (1, 0)
    by_key = {e.entry_key: e for e in entries(db_session, debt)}
    assert by_key["late_fee"].amount_minor == 6000
    assert by_key["late_fee"].effective_date == date(2026, 11, 1)
    # 1 to 24 November: 24 days × 3000/30 = 2400.
    assert by_key["interest:2026-11-24"].amount_minor == 2400
    assert by_key["interest:2026-11-24"].period_start == date(2026, 11, 1)
    db_session.refresh(debt)
    assert (debt.fees_minor, debt.interest_minor) == (6000, 2400)
    assert debt.outstanding_minor == 308400
    assert debt.accrued_through == date(2026, 11, 24)
    assert_explained(db_session, debt)

    ledger.accrue_all(db_session=db_session, now=NOW + timedelta(days=1))
    db_session.refresh(debt)
    assert debt.interest_minor == 2500
    assert_explained(db_session, debt)


def test_a_debt_in_a_plan_accrues_nothing(db_session):
    _, debt = factories.opened_debt(db_session, NOW - timedelta(days=10))
    factories.plan(db_session, debt, [(date(2026, 11, 20), 100000), (date(2026, 12, 20), 145090)],
                   NOW - timedelta(days=10))  # fmt: skip

    assert ledger.accrue_all(db_session=db_session, now=NOW) == 0
    ledger.post_accruals(db_session=db_session, debt=debt, now=NOW)
    db_session.commit()

    kinds = {e.entry_key for e in entries(db_session, debt)}
    assert not any(key.startswith("interest:") or key == "late_fee" for key in kinds)
    assert_explained(db_session, debt)


def payment(debt, external_id, amount):
    return PaymentCreate(
        external_id=external_id,
        debt_reference=debt.reference,
        amount=Decimal(amount) / 100,
        currency="BRL",
        paid_at=NOW,
        method="pix",
    )


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    principal=st.integers(1000, 10**6),
    monthly=st.decimals(min_value=0, max_value=10, places=3),
    fee_pct=st.decimals(min_value=0, max_value=10, places=3),
    steps=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 300000)), max_size=5),
)
def test_balance_is_principal_plus_accrued_minus_paid(
    db_session, principal, monthly, fee_pct, steps
):
    opened = NOW - timedelta(days=120)
    _, debt = factories.debtor_with_debt(
        db_session,
        principal_minor=principal,
        fees_minor=0,
        interest_minor=0,
        outstanding_minor=principal,
        due_date=date(2026, 8, 1),
        late_interest_monthly_pct=monthly,
        late_fee_pct=fee_pct,
    )
    ledger.open_debt(db_session=db_session, debt=debt, now=opened)
    db_session.commit()
    when = opened
    for number, (days, amount) in enumerate(steps):
        when += timedelta(days=days)
        ledger.post_accruals(db_session=db_session, debt=debt, now=when)
        ledger.post_accruals(db_session=db_session, debt=debt, now=when)  # idempotent
        db_session.commit()
        if amount and debt.status is not DebtStatus.PAID:
            payments.record_payment(
                db_session=db_session,
                payment=payment(debt, f"p-{debt.id}-{number}", amount),
                now=when,
                recorded_by="test",
            )
        assert_explained(db_session, debt)

    db_session.refresh(debt)
    statement = ledger.balance_explained(db_session=db_session, debt=debt)
    accrued = statement.totals[EntryKind.INTEREST] + statement.totals[EntryKind.LATE_FEE]
    paid = -statement.totals[EntryKind.PAYMENT]
    assert debt.outstanding_minor == principal + accrued - paid == statement.balance
    assert (debt.fees_minor, debt.interest_minor) == (
        statement.totals[EntryKind.LATE_FEE],
        statement.totals[EntryKind.INTEREST],
    )
    assert debt.outstanding_minor >= 0
    assert (debt.outstanding_minor == 0) == (debt.status is DebtStatus.PAID)


@pytest.fixture
def app(app):
    """The app with the ledger route, protected as the debt routes are (until main has it)."""
    if not any(str(getattr(route, "path", "")).endswith("/ledger") for route in app.routes):
        protected = [Depends(require_service_token), Depends(require_contact_signature)]
        app.include_router(ledger_router, prefix=API_PREFIX, dependencies=protected)
    return app


def test_the_ledger_route_explains_a_verified_debtors_debt(client, db_session, clock):
    debtor, debt = factories.debtor_with_debt(db_session)
    base = "/api/v1/contacts/webchat/ledger-web"
    verified = client.post(
        f"{base}/verification",
        json={"document_suffix": debtor.document_number[-4:], "birth_date": "1988-03-14"},
    )
    assert verified.status_code == 200

    response = client.get(f"{base}/debts/{debt.reference}/ledger")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outstanding"] == "2450.90"
    assert sum(Decimal(e["amount"]) for e in body["entries"]) == Decimal("2450.90")
    assert body["totals"]["principal"] == "2000.00"


def test_the_ledger_route_needs_the_debtors_verified_contact(client, db_session):
    debtor, debt = factories.debtor_with_debt(db_session)
    factories.contact(db_session, debtor, external_id="bound-but-unverified")
    db_session.commit()

    unverified = client.get(f"{WEB}/bound-but-unverified/debts/{debt.reference}/ledger")
    stranger = client.get(f"{WEB}/never-seen/debts/{debt.reference}/ledger")

    assert unverified.status_code == 403
    assert unverified.json()["detail"]["reason_code"] == "identity_not_verified"
    assert stranger.status_code == 404


def test_the_migration_explains_existing_balances_and_its_downgrade_removes_that(
    engine, db_session
):
    url = engine.url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0006")
    _, partly_paid = factories.debtor_with_debt(db_session, outstanding_minor=200000)
    _, as_it_came = factories.debtor_with_debt(db_session)
    db_session.close()

    command.upgrade(alembic_config(url), "head")

    for debt in (partly_paid, as_it_came):
        debt = db_session.merge(debt)
        assert_explained(db_session, debt)
        assert debt.accrued_through is not None
    assert {e.entry_key: e.amount_minor for e in entries(db_session, partly_paid)}[
        "opening:paid"
    ] == -45090
    db_session.close()
    command.downgrade(alembic_config(url), "0006")
    assert entries(db_session, partly_paid) == []
    db_session.close()
    command.upgrade(alembic_config(url), "head")


def test_two_accrual_runs_at_once_post_each_day_once(engine, db_session):
    overdue = dict(
        fees_minor=0, interest_minor=0, outstanding_minor=200000, due_date=date(2026, 10, 1)
    )
    debts = [factories.debtor_with_debt(db_session, **overdue)[1] for _ in range(4)]
    for debt in debts:
        ledger.open_debt(db_session=db_session, debt=debt, now=NOW - timedelta(days=20))
    db_session.commit()
    sessions = session_factory(engine)
    start = threading.Barrier(2)
    counts, errors = [], []

    def run():
        try:
            with sessions() as session:
                start.wait()
                counts.append(ledger.accrue_all(db_session=session, now=NOW, batch_size=2))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == [] and sum(counts) == len(debts)
    for debt in debts:
        assert_explained(db_session, debt)
        # 20 days × 2000/30 = 1333,33 → 1333, once.
        assert debt.interest_minor == 1333
