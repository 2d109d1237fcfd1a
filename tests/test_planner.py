"""The planner: each open debt gets its current cadence level once, on the debtor's local day."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import event, func, select

from backend.campaigns import cadence, contact_rules
from backend.campaigns.planner import plan_due
from backend.db import session_factory
from backend.debts.models import DebtStatus
from backend.enums import Channel, Language
from backend.gateway.models import (
    DeliveryAttempt,
    DeliveryOutcome,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
)
from backend.interactions.models import Interaction
from backend.negotiation.engine import PlanKind
from backend.plans.models import PaymentPlan, PlanStatus
from tests import factories

# 02:00 UTC on 10 March 2026: still the 9th in São Paulo (23:00), already the 10th in Rome.
NOW = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)
SAO_PAULO_TODAY = date(2026, 3, 9)
ROME_TODAY = date(2026, 3, 10)
# The medium segment's default levels: -3, 0, +3, +7, +15, +30 (the last escalates).


def _creditor(db_session):
    creditor = factories.creditor(db_session)
    cadence.seed_defaults(db_session, creditor)
    contact_rules.seed_defaults(db_session)
    db_session.commit()
    return creditor


def _debt(db_session, creditor, *, due: date, tz="America/Sao_Paulo", country="BR", **debtor):
    person = factories.debtor(db_session, creditor, timezone=tz, country=country, **debtor)
    status = DebtStatus.CURRENT if due >= NOW.date() else DebtStatus.OVERDUE
    owed = factories.debt(db_session, person, due_date=due, status=status)
    db_session.commit()
    return owed


def _rows(db_session) -> list[OutboxMessage]:
    db_session.expire_all()
    return list(db_session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _keys(db_session) -> list[str]:
    return [row.dedupe_key for row in _rows(db_session)]


def test_the_level_is_the_one_of_the_debtors_local_day(db_session):
    creditor = _creditor(db_session)
    # Due 7 March: two days ago in São Paulo (level 2, due today +0), three in Rome (level 3).
    in_brazil = _debt(db_session, creditor, due=date(2026, 3, 7))
    in_italy = _debt(db_session, creditor, due=date(2026, 3, 7), tz="Europe/Rome", country="IT")
    report = plan_due(db_session, NOW)

    assert report.queued == 2
    by_debt = {row.debt_id: row for row in _rows(db_session)}
    assert by_debt[in_brazil.id].level == 2
    assert by_debt[in_brazil.id].scheduled_for == date(2026, 3, 7)
    assert by_debt[in_brazil.id].dedupe_key == f"reminder:{in_brazil.id}:2:2026-03-07"
    assert by_debt[in_italy.id].level == 3
    assert by_debt[in_italy.id].scheduled_for == date(2026, 3, 10)
    assert by_debt[in_italy.id].kind is MessageKind.REMINDER
    # Not before the contact window opens on the debtor's local today (BR 08:00, IT 09:00).
    assert by_debt[in_brazil.id].not_before == datetime(2026, 3, 9, 11, 0, tzinfo=timezone.utc)
    assert by_debt[in_italy.id].not_before == datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


def test_before_the_first_level_nothing_is_queued(db_session):
    creditor = _creditor(db_session)
    _debt(db_session, creditor, due=SAO_PAULO_TODAY + timedelta(days=4))
    assert plan_due(db_session, NOW).queued == 0
    assert _rows(db_session) == []


def test_planning_twice_or_by_two_planners_adds_nothing(engine, db_session):
    creditor = _creditor(db_session)
    for days in (-3, 0, 3, 9, 20, 40):
        _debt(db_session, creditor, due=SAO_PAULO_TODAY - timedelta(days=days))
    first = plan_due(db_session, NOW)
    keys = _keys(db_session)
    assert first.queued == 6 and len(keys) == 6

    again = plan_due(db_session, NOW + timedelta(minutes=1))
    with session_factory(engine)() as other_planner:
        other = plan_due(other_planner, NOW + timedelta(minutes=2))
    assert again.queued == other.queued == 0
    assert _keys(db_session) == keys
    # Rows already queued are not even selected again.
    assert again.selected == 0


def test_a_debt_that_joins_late_gets_only_its_current_level(db_session):
    creditor = _creditor(db_session)
    owed = _debt(db_session, creditor, due=SAO_PAULO_TODAY - timedelta(days=20))
    plan_due(db_session, NOW)

    rows = _rows(db_session)
    assert [(row.debt_id, row.level) for row in rows] == [(owed.id, 5)]
    assert rows[0].scheduled_for == owed.due_date + timedelta(days=15)


def test_a_new_level_supersedes_the_older_one_still_pending(db_session):
    creditor = _creditor(db_session)
    owed = _debt(db_session, creditor, due=SAO_PAULO_TODAY - timedelta(days=3))
    plan_due(db_session, NOW)
    [older] = _rows(db_session)
    assert older.level == 3

    plan_due(db_session, NOW + timedelta(days=4))
    rows = {row.level: row for row in _rows(db_session)}
    assert set(rows) == {3, 4}
    assert rows[3].status is OutboxStatus.SUPPRESSED
    assert rows[3].suppression_reason == "superseded"
    assert rows[4].status is OutboxStatus.PENDING
    attempt = db_session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.outbox_id == rows[3].id)
    ).one()
    assert (attempt.outcome, attempt.reason) == (DeliveryOutcome.SUPPRESSED, "superseded")
    assert rows[4].debt_id == owed.id


def test_a_sent_level_is_history_not_superseded(db_session):
    creditor = _creditor(db_session)
    _debt(db_session, creditor, due=SAO_PAULO_TODAY - timedelta(days=3))
    plan_due(db_session, NOW)
    [older] = _rows(db_session)
    older.status = OutboxStatus.SENT
    db_session.commit()

    report = plan_due(db_session, NOW + timedelta(days=4))
    assert report.superseded == 0
    assert _rows(db_session)[0].status is OutboxStatus.SENT


def test_a_broken_plan_restarts_the_cadence_from_the_day_it_broke(db_session):
    creditor = _creditor(db_session)
    policy = factories.policy(db_session, creditor)
    # Due 60 days ago: without the plan it would be at the final level.
    owed = _debt(db_session, creditor, due=SAO_PAULO_TODAY - timedelta(days=60))
    db_session.add(_broken_plan(owed, policy, ended_at=NOW - timedelta(hours=4)))
    db_session.commit()

    report = plan_due(db_session, NOW)
    [row] = _rows(db_session)
    assert (row.level, row.scheduled_for) == (2, SAO_PAULO_TODAY)  # "due today", from the start
    assert report.escalated == 0
    db_session.refresh(owed)
    assert owed.legal_review_at is None

    # Three days later the restarted cadence moves on to its next level.
    plan_due(db_session, NOW + timedelta(days=3))
    assert [row.level for row in _rows(db_session)] == [2, 3]


def test_debts_in_a_plan_disputed_paid_or_of_erased_debtors_are_not_planned(db_session):
    creditor = _creditor(db_session)
    due = SAO_PAULO_TODAY - timedelta(days=3)
    for status in (DebtStatus.IN_PLAN, DebtStatus.DISPUTED, DebtStatus.PAID):
        owed = _debt(db_session, creditor, due=due)
        owed.status = status
    erased = _debt(db_session, creditor, due=due)
    erased.debtor.erased_at = NOW - timedelta(days=1)
    db_session.commit()

    assert plan_due(db_session, NOW).queued == 0


def test_the_final_level_sends_the_debt_to_review_once(db_session):
    creditor = _creditor(db_session)
    owed = _debt(db_session, creditor, due=SAO_PAULO_TODAY - timedelta(days=45))
    factories.contact(db_session, owed.debtor, channel=Channel.WHATSAPP, external_id="5511999")
    factories.contact(db_session, owed.debtor, channel=Channel.WEBCHAT)
    db_session.commit()

    report = plan_due(db_session, NOW)
    [row] = _rows(db_session)
    assert row.level == 6  # the final notice itself still goes (the gate spares it)
    assert report.escalated == 1
    db_session.refresh(owed)
    assert owed.legal_review_at == NOW

    assert row.params == {"message": "final_notice", "escalates": True}

    plan_due(db_session, NOW + timedelta(minutes=1))
    escalations = list(
        db_session.scalars(select(Interaction).where(Interaction.event == "escalation.requested"))
    )
    assert len(escalations) == 2  # one per contact of the debtor, and only once
    assert {entry.debt_id for entry in escalations} == {owed.id}
    assert all(entry.data == {"reason": "cadence_final_level"} for entry in escalations)


def test_higher_expected_recovery_is_queued_first_with_its_priority(db_session):
    creditor = _creditor(db_session)
    due = SAO_PAULO_TODAY - timedelta(days=3)
    owed = {}
    for priority in (10_000, 90_000, 50_000):
        debt = _debt(db_session, creditor, due=due, recovery_priority_minor=priority)
        owed[debt.id] = priority

    report = plan_due(db_session, NOW, batch_size=1)
    rows = _rows(db_session)
    assert report.batches >= 3
    assert [row.priority for row in rows] == [90_000, 50_000, 10_000]
    assert all(owed[row.debt_id] == row.priority for row in rows)


def test_each_segment_follows_its_own_cadence(db_session):
    creditor = _creditor(db_session)
    # One day before the due date: only the high-risk cadence has a level at -1.
    high = _debt(db_session, creditor, due=SAO_PAULO_TODAY + timedelta(days=1), risk_segment="high")
    low = _debt(db_session, creditor, due=SAO_PAULO_TODAY + timedelta(days=1), risk_segment="low")
    plan_due(db_session, NOW)
    levels = {row.debt_id: row.level for row in _rows(db_session)}
    assert levels == {high.id: 2, low.id: 1}


def test_a_batch_costs_the_same_statements_whatever_its_size(engine, db_session):
    """Set-based: planning 10 or 100 debts in one batch takes the same number of statements."""
    creditor = _creditor(db_session)
    due = SAO_PAULO_TODAY - timedelta(days=3)

    def plan_debts(count: int) -> int:
        person = factories.debtor(db_session, creditor)
        for _ in range(count):
            factories.debt(db_session, person, due_date=due, status=DebtStatus.OVERDUE)
        db_session.commit()
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with session_factory(engine)() as planner_session:
                report = plan_due(planner_session, NOW, batch_size=500)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert report.queued == count and report.batches == 1
        return len(statements)

    assert plan_debts(10) == plan_debts(100)


def test_many_debts_are_planned_in_batches(db_session):
    creditor = _creditor(db_session)
    person = factories.debtor(db_session, creditor, preferred_language=Language.PT_BR)
    due = SAO_PAULO_TODAY - timedelta(days=3)
    for _ in range(250):
        factories.debt(db_session, person, due_date=due, status=DebtStatus.OVERDUE)
    db_session.commit()
    report = plan_due(db_session, NOW, batch_size=100)
    assert report.queued == 250
    assert report.batches == 3
    count = db_session.scalar(select(func.count()).select_from(OutboxMessage))
    assert count == 250


def _broken_plan(owed, policy, *, ended_at: datetime) -> PaymentPlan:
    return PaymentPlan(
        debt_id=owed.id,
        policy_id=policy.id,
        status=PlanStatus.BROKEN,
        kind=PlanKind.INSTALLMENTS,
        currency=owed.currency,
        balance_minor=owed.outstanding_minor,
        discount_minor=0,
        interest_minor=0,
        interest_monthly_pct=Decimal("1.99"),
        down_payment_minor=0,
        installment_count=3,
        total_minor=owed.outstanding_minor,
        idempotency_key=f"plan-{owed.id}",
        request_fingerprint="x" * 64,
        created_at=ended_at - timedelta(days=40),
        ended_at=ended_at,
    )
