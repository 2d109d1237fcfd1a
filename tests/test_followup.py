"""Follow-up: promises kept or broken, installments late, plans broken or completed, and the
reminder the day before, each once however many schedulers run."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from backend.campaigns import followup
from backend.db import session_factory
from backend.debts.models import DebtStatus
from backend.gateway.models import MessageKind, OutboxMessage
from backend.interactions.models import Interaction
from backend.ledger import service as ledger
from backend.payments.models import Payment
from backend.plans.models import PlanStatus
from backend.promises.models import PromiseStatus
from tests import factories

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)  # 12:00 in São Paulo
TODAY = date(2026, 11, 24)
AGREED = NOW - timedelta(days=40)
PLAIN = dict(
    principal_minor=30000,
    fees_minor=0,
    interest_minor=0,
    outstanding_minor=30000,
    due_date=date(2026, 10, 1),
)


def outbox(db_session, kind=None):
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    return db_session.scalars(query).all()


def events(db_session, name):
    return db_session.scalars(select(Interaction).where(Interaction.event == name)).all()


def paid(db_session, debt, amount_minor):
    db_session.add(
        Payment(
            external_id=f"psp-{debt.id}-{amount_minor}",
            debt_id=debt.id,
            amount_minor=amount_minor,
            overpaid_minor=0,
            currency="BRL",
            paid_at=NOW - timedelta(days=2),
            method="pix",
        )
    )
    db_session.commit()


# --- promises ---------------------------------------------------------------------------


def test_the_day_after_its_date_a_promise_is_kept_or_broken(db_session):
    _, broken_debt = factories.debtor_with_debt(db_session, **PLAIN)
    _, kept_debt = factories.debtor_with_debt(db_session, **PLAIN)
    _, today_debt = factories.debtor_with_debt(db_session, **PLAIN)
    yesterday = TODAY - timedelta(days=1)
    broken = factories.promise(db_session, broken_debt, yesterday, 10000)
    kept = factories.promise(db_session, kept_debt, yesterday, 10000)
    not_yet = factories.promise(db_session, today_debt, TODAY, 10000)
    paid(db_session, kept_debt, 10000)

    report = followup.run(db_session, NOW)

    for promise in (broken, kept, not_yet):
        db_session.refresh(promise)
    assert (broken.status, kept.status, not_yet.status) == (
        PromiseStatus.BROKEN,
        PromiseStatus.KEPT,
        PromiseStatus.ACTIVE,
    )
    assert broken.resolved_at == NOW
    assert (report.promises_broken, report.promises_kept) == (1, 1)
    assert [e.data["promise_id"] for e in events(db_session, "promise.broken")] == [broken.id]
    assert [e.data["promise_id"] for e in events(db_session, "promise.kept")] == [kept.id]
    (message,) = outbox(db_session, MessageKind.PROMISE_BROKEN)
    assert message.dedupe_key == f"promise_broken:{broken.id}"
    assert message.params == {"promise_id": broken.id}
    assert message.debt_id == broken_debt.id and message.scheduled_for == TODAY


def test_a_promise_is_judged_on_the_debtors_own_day(db_session):
    # 02:00 UTC on the 25th is still the 24th in São Paulo: a promise for the 24th stands.
    _, debt = factories.debtor_with_debt(db_session, **PLAIN)
    promise = factories.promise(db_session, debt, TODAY, 10000)

    followup.run(db_session, datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc))
    db_session.refresh(promise)
    assert promise.status is PromiseStatus.ACTIVE

    followup.run(db_session, datetime(2026, 11, 25, 4, 0, tzinfo=timezone.utc))
    db_session.refresh(promise)
    assert promise.status is PromiseStatus.BROKEN


# --- plans ------------------------------------------------------------------------------


def test_an_installment_unpaid_past_the_grace_days_is_late_once(db_session):
    _, debt = factories.debtor_with_debt(db_session, **PLAIN)
    plan = factories.plan(
        db_session,
        debt,
        [(date(2026, 11, 10), 10000), (date(2026, 11, 20), 10000), (date(2026, 12, 20), 10000)],
        AGREED,
    )
    first, second, _ = plan.installments

    report = followup.run(db_session, NOW)
    followup.run(db_session, NOW)

    db_session.refresh(first)
    db_session.refresh(second)
    # Grace of 5 days: the 10th is late from the 16th; the 20th would be from the 26th.
    assert (first.late_since, second.late_since) == (date(2026, 11, 16), None)
    assert report.installments_late == 1
    (message,) = outbox(db_session, MessageKind.INSTALLMENT_LATE)
    assert message.dedupe_key == f"installment_late:{first.id}"
    assert message.params == {"installment_id": first.id}
    assert len(events(db_session, "installment.late")) == 1
    db_session.refresh(plan)
    assert plan.status is PlanStatus.ACTIVE


def test_too_many_late_installments_break_the_plan_with_the_balance_left(db_session):
    _, debt = factories.debtor_with_debt(db_session, **PLAIN)
    plan = factories.plan(
        db_session,
        debt,
        [(date(2026, 10, 20), 10000), (date(2026, 11, 10), 10000), (date(2026, 12, 20), 12000)],
        AGREED,
    )
    plan.installments[0].paid_minor = 4000  # partly paid: still late
    debt.outstanding_minor -= 4000  # (as a payment would have)
    ledger.post_payment(
        db_session=db_session, debt=debt, payment=_payment(db_session, debt, 4000),
        applied_minor=4000, now=AGREED,
    )  # fmt: skip
    db_session.commit()
    remaining = debt.outstanding_minor

    report = followup.run(db_session, NOW)

    db_session.refresh(plan)
    db_session.refresh(debt)
    assert plan.status is PlanStatus.BROKEN and plan.ended_at == NOW
    assert report.plans_broken == 1 and report.installments_late == 2
    assert (debt.status, debt.outstanding_minor) == (DebtStatus.OVERDUE, remaining)
    assert debt.outstanding_minor == ledger.ledger_balance(db_session=db_session, debt_id=debt.id)
    (broken,) = events(db_session, "plan.broken")
    assert broken.data == {"plan_id": plan.id, "remaining_minor": remaining}
    (message,) = outbox(db_session, MessageKind.PLAN_BROKEN)
    assert message.dedupe_key == f"plan_broken:{plan.id}" and message.params == {"plan_id": plan.id}
    # The broken plan's message says it all: no late notice for its installments.
    assert outbox(db_session, MessageKind.INSTALLMENT_LATE) == []

    # Back in collection: late interest resumes the day after the plan broke.
    ledger.accrue_all(db_session=db_session, now=NOW + timedelta(days=3))
    db_session.refresh(debt)
    assert debt.interest_minor > 0
    assert debt.outstanding_minor == ledger.ledger_balance(db_session=db_session, debt_id=debt.id)


def _payment(db_session, debt, amount_minor):
    payment = Payment(
        external_id=f"psp-{debt.id}",
        debt_id=debt.id,
        amount_minor=amount_minor,
        overpaid_minor=0,
        currency="BRL",
        paid_at=AGREED,
        method="pix",
    )
    db_session.add(payment)
    db_session.flush()
    debt.outstanding_minor += amount_minor  # post_payment takes it off
    return payment


def test_a_plan_paid_in_full_completes_and_the_debt_is_paid(db_session):
    _, debt = factories.debtor_with_debt(db_session, **PLAIN)
    plan = factories.plan(db_session, debt, [(date(2026, 11, 10), 30000)], AGREED)
    plan.installments[0].paid_minor = 30000
    debt.outstanding_minor = 0  # as if paid before the payments service completed plans
    db_session.commit()

    report = followup.run(db_session, NOW)
    again = followup.run(db_session, NOW)

    db_session.refresh(plan)
    db_session.refresh(debt)
    assert (plan.status, debt.status) == (PlanStatus.COMPLETED, DebtStatus.PAID)
    assert (report.plans_completed, again.plans_completed) == (1, 0)
    assert len(events(db_session, "plan.completed")) == 1


# --- the day before ---------------------------------------------------------------------


def due_tomorrow(db_session):
    _, promised = factories.debtor_with_debt(db_session, **PLAIN)
    promise = factories.promise(db_session, promised, TODAY + timedelta(days=1), 10000)
    _, in_plan = factories.debtor_with_debt(db_session, **PLAIN)
    plan = factories.plan(
        db_session,
        in_plan,
        [(TODAY + timedelta(days=1), 15000), (TODAY + timedelta(days=31), 15000)],
        NOW - timedelta(days=2),
    )
    return promise, plan.installments[0]


def test_the_day_before_a_promise_or_installment_a_reminder_is_queued_once(db_session, monkeypatch):
    promise, installment = due_tomorrow(db_session)

    first = followup.run(db_session, NOW)
    offered = []
    enqueue_many = followup.outbox.enqueue_many
    monkeypatch.setattr(
        followup.outbox,
        "enqueue_many",
        lambda s, rows: offered.extend(rows) or enqueue_many(s, rows),
    )
    second = followup.run(db_session, NOW)

    assert (first.reminders_queued, second.reminders_queued) == (2, 0)
    assert offered == []  # what is queued already is not even offered again
    (promise_due,) = outbox(db_session, MessageKind.PROMISE_DUE)
    (installment_due,) = outbox(db_session, MessageKind.INSTALLMENT_DUE)
    assert promise_due.dedupe_key == f"promise_due:{promise.id}"
    assert promise_due.params == {"promise_id": promise.id}
    assert installment_due.dedupe_key == f"installment_due:{installment.id}"
    assert installment_due.params == {"installment_id": installment.id}
    for message in (promise_due, installment_due):
        assert message.scheduled_for == TODAY
        # The default window opens at 08:00 in São Paulo: 11:00 UTC.
        assert message.not_before == datetime(2026, 11, 24, 11, 0, tzinfo=timezone.utc)


def test_two_schedulers_at_once_change_and_queue_everything_once(engine, db_session):
    promise, installment = due_tomorrow(db_session)
    _, broken_debt = factories.debtor_with_debt(db_session, **PLAIN)
    broken = factories.promise(db_session, broken_debt, TODAY - timedelta(days=1), 10000)
    _, late_debt = factories.debtor_with_debt(db_session, **PLAIN)
    factories.plan(
        db_session,
        late_debt,
        [(date(2026, 10, 20), 10000), (date(2026, 11, 10), 10000), (date(2026, 12, 20), 10000)],
        AGREED,
    )
    sessions = session_factory(engine)
    start = threading.Barrier(2)
    reports, errors = [], []

    def run():
        try:
            with sessions() as session:
                start.wait()
                reports.append(followup.run(session, NOW, batch_size=1))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    keys = [message.dedupe_key for message in outbox(db_session)]
    assert len(keys) == len(set(keys))
    assert {key.split(":")[0] for key in keys} == {
        "promise_due",
        "installment_due",
        "promise_broken",
        "plan_broken",
    }
    assert sum(r.reminders_queued for r in reports) == 2
    assert sum(r.promises_broken for r in reports) == 1
    assert sum(r.plans_broken for r in reports) == 1
    assert len(events(db_session, "promise.broken")) == 1
    assert len(events(db_session, "plan.broken")) == 1
    assert len(events(db_session, "installment.late")) == 2
    db_session.refresh(broken)
    assert broken.status is PromiseStatus.BROKEN
