"""Payments applied: to installments in due order, partial, over the balance, exactly once."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select

from backend.db import session_factory
from backend.debts.models import DebtStatus
from backend.gateway.models import MessageKind, OutboxMessage
from backend.interactions.models import Interaction
from backend.ledger import service as ledger
from backend.ledger.models import EntryKind, LedgerEntry
from backend.payments import service as payments
from backend.payments.models import Payment
from backend.payments.schemas import PaymentCreate
from backend.plans.models import PlanStatus
from backend.promises.models import PromiseStatus
from tests import factories

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)  # 12:00 in São Paulo
TODAY = date(2026, 11, 24)
PLAIN = dict(
    principal_minor=30000,
    fees_minor=0,
    interest_minor=0,
    outstanding_minor=30000,
    due_date=date(2026, 10, 1),
)


def pay(db_session, debt, amount_minor, external_id="psp-1", now=NOW):
    return payments.record_payment(
        db_session=db_session,
        payment=PaymentCreate(
            external_id=external_id,
            debt_reference=debt.reference,
            amount=Decimal(amount_minor) / 100,
            currency="BRL",
            paid_at=now,
            method="pix",
        ),
        now=now,
        recorded_by="test",
    )


def thanks(db_session):
    return db_session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == MessageKind.PAYMENT_THANKS)
    ).all()


def payment_entries(db_session, debt):
    return db_session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.debt_id == debt.id, LedgerEntry.kind == EntryKind.PAYMENT
        )
    ).all()


def explained(db_session, debt) -> bool:
    db_session.refresh(debt)
    return debt.outstanding_minor == ledger.ledger_balance(db_session=db_session, debt_id=debt.id)


def test_a_partial_payment_pays_installments_in_due_order(db_session):
    _, debt = factories.debtor_with_debt(db_session, **PLAIN)
    plan = factories.plan(
        db_session,
        debt,
        [(date(2026, 11, 10), 10000), (date(2026, 12, 10), 10000), (date(2027, 1, 10), 10000)],
        NOW - timedelta(days=20),
    )
    first, second, third = plan.installments
    first.late_since = second.late_since = date(2026, 11, 16)
    db_session.commit()

    created, _, is_new = pay(db_session, debt, 15000)

    assert is_new
    db_session.refresh(plan)
    assert [i.paid_minor for i in plan.installments] == [10000, 5000, 0]
    # Paid in full, the first is no longer late; the second, half paid, still is.
    assert (first.late_since, second.late_since) == (None, date(2026, 11, 16))
    assert (debt.outstanding_minor, debt.status) == (15000, DebtStatus.IN_PLAN)
    (entry,) = payment_entries(db_session, debt)
    assert (entry.amount_minor, entry.payment_id, entry.effective_date) == (
        -15000,
        created.id,
        TODAY,
    )
    assert explained(db_session, debt)


def test_paying_the_last_installment_completes_the_plan_and_the_debt(db_session):
    _, debt = factories.debtor_with_debt(db_session, **PLAIN)
    plan = factories.plan(
        db_session,
        debt,
        [(date(2026, 11, 10), 10000), (date(2026, 12, 10), 20000)],
        NOW - timedelta(days=20),
    )

    pay(db_session, debt, 10000, "psp-1")
    pay(db_session, debt, 20000, "psp-2")

    db_session.refresh(plan)
    assert plan.status is PlanStatus.COMPLETED and plan.ended_at == NOW
    assert (debt.outstanding_minor, debt.status) == (0, DebtStatus.PAID)
    events = db_session.scalars(select(Interaction.event)).all()
    assert events.count("plan.completed") == 1
    assert explained(db_session, debt)


def test_an_overpayment_clears_the_debt_and_keeps_the_rest_for_a_refund(db_session):
    _, debt = factories.debtor_with_debt(db_session, **PLAIN)
    promise = factories.promise(db_session, debt, TODAY + timedelta(days=3), 10000)

    created, _, _ = pay(db_session, debt, 35000)

    assert (created.amount_minor, created.overpaid_minor) == (35000, 5000)
    assert (debt.outstanding_minor, debt.status) == (0, DebtStatus.PAID)
    assert [e.amount_minor for e in payment_entries(db_session, debt)] == [-30000]
    db_session.refresh(promise)
    assert promise.status is PromiseStatus.KEPT
    assert explained(db_session, debt)


def test_a_repeated_webhook_is_applied_and_thanked_once(db_session):
    _, debt = factories.debtor_with_debt(db_session, **PLAIN)

    first, _, first_new = pay(db_session, debt, 10000)
    again, _, again_new = pay(db_session, debt, 10000)

    assert (first_new, again_new) == (True, False) and first.id == again.id
    assert db_session.scalars(select(Payment)).all() == [first]
    assert len(payment_entries(db_session, debt)) == 1
    assert debt.outstanding_minor == 20000
    (message,) = thanks(db_session)
    assert message.dedupe_key == f"payment_thanks:{first.id}"
    assert message.params == {"payment_id": first.id}
    assert (message.debtor_id, message.debt_id) == (debt.debtor_id, debt.id)
    assert message.scheduled_for == TODAY and message.not_before == NOW
    assert explained(db_session, debt)


def test_each_payment_is_thanked(db_session):
    _, debt = factories.debtor_with_debt(db_session, **PLAIN)

    pay(db_session, debt, 10000, "psp-1")
    pay(db_session, debt, 10000, "psp-2")

    assert len(thanks(db_session)) == 2


def test_a_payment_brings_late_interest_up_to_its_day_first(db_session):
    _, debt = factories.debtor_with_debt(
        db_session, **{**PLAIN, "late_interest_monthly_pct": Decimal("3")}
    )
    ledger.open_debt(db_session=db_session, debt=debt, now=NOW - timedelta(days=10))
    db_session.commit()

    pay(db_session, debt, 30300)  # 10 days × 30000 × 3%/30 = 300: the whole balance

    assert (debt.interest_minor, debt.outstanding_minor, debt.status) == (
        300,
        0,
        DebtStatus.PAID,
    )
    assert explained(db_session, debt)


def test_the_same_payment_reported_twice_at_once_is_applied_once(engine, db_session):
    _, debt = factories.debtor_with_debt(db_session, **PLAIN)
    sessions = session_factory(engine)
    start = threading.Barrier(2)
    results, errors = [], []

    def report():
        try:
            with sessions() as session:
                start.wait()
                results.append(pay(session, session.merge(debt), 10000, "psp-twice")[2])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=report) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == [] and sorted(results) == [False, True]
    assert len(payment_entries(db_session, debt)) == 1
    assert len(thanks(db_session)) == 1
    assert explained(db_session, debt) and debt.outstanding_minor == 20000
