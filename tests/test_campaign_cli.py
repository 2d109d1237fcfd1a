"""The campaign dry run: who would get what, where and when, every suppression explained, and
nothing written."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.campaigns import cadence, cli, contact_rules
from backend.campaigns.planner import plan_due
from backend.campaigns.views import router
from backend.db import session_factory
from backend.debts.models import Debt, DebtStatus
from backend.deps import require_service_token
from backend.enums import Channel
from backend.gateway import outbox
from backend.gateway.models import DeliveryAttempt, MessageKind, OutboxMessage, OutboxStatus
from backend.interactions.models import Interaction
from backend.payments.models import ClaimStatus, PaymentClaim
from tests import factories
from tests.conftest import SERVICE_TOKEN

# Tuesday 10 March 2026, 12:00 in São Paulo: inside the contact window.
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=timezone.utc)
TODAY = date(2026, 3, 10)


@pytest.fixture
def campaign(db_session):
    """Debtors whose due reminders meet each kind of fate (medium cadence: +3 is level 3)."""
    creditor = factories.creditor(db_session)
    cadence.seed_defaults(db_session, creditor)
    contact_rules.seed_defaults(db_session)
    due = TODAY - timedelta(days=3)

    def debtor_with_debt(name: str, **debtor):
        person = factories.debtor(db_session, creditor, full_name=name, **debtor)
        debt = factories.debt(db_session, person, due_date=due, status=DebtStatus.OVERDUE)
        return person, debt

    reachable, _ = debtor_with_debt("Ana Souza", email=None)
    factories.contact(
        db_session,
        reachable,
        channel=Channel.WHATSAPP,
        external_id="5511900000001",
        last_inbound_at=NOW - timedelta(hours=2),
    )
    stopped, _ = debtor_with_debt("Bruno Lima", email=None)
    factories.contact(
        db_session,
        stopped,
        channel=Channel.WHATSAPP,
        external_id="5511900000002",
        opted_out_at=NOW - timedelta(days=10),
    )
    debtor_with_debt("Carla Dias", email=None)  # nowhere to reach her
    _, claimed = debtor_with_debt("Davi Rocha", email="davi@example.com")
    db_session.add(PaymentClaim(debt_id=claimed.id, paid_on=due, status=ClaimStatus.OPEN))
    # An older level still waiting (queued yesterday): today's level supersedes it.
    late, late_debt = debtor_with_debt("Elisa Prado", email="elisa@example.com")
    outbox.enqueue(
        db_session,
        dedupe_key=f"reminder:{late_debt.id}:2:{due.isoformat()}",
        kind=MessageKind.REMINDER,
        debtor_id=late.id,
        debt_id=late_debt.id,
        level=2,
        scheduled_for=due,
        not_before=NOW + timedelta(days=1),
    )
    db_session.commit()
    return creditor


def _footprint(db_session) -> dict:
    db_session.expire_all()
    count = lambda model: db_session.scalar(select(func.count()).select_from(model))  # noqa: E731
    return {
        "outbox": count(OutboxMessage),
        "pending": db_session.scalar(
            select(func.count()).where(OutboxMessage.status == OutboxStatus.PENDING)
        ),
        "attempts": count(DeliveryAttempt),
        "interactions": count(Interaction),
        "in_review": db_session.scalar(
            select(func.count()).where(Debt.legal_review_at.is_not(None))
        ),
    }


def test_the_dry_run_explains_every_message_and_writes_nothing(engine, db_session, campaign):
    before = _footprint(db_session)
    out = io.StringIO()
    result = cli.run_dry(NOW, out, session_factory(engine))
    report = out.getvalue()

    fates = {
        (entry.first_name, entry.outcome, entry.reason or entry.channel) for entry in result.entries
    }
    assert ("Ana", "send", "whatsapp") in fates
    assert ("Bruno", "suppress", "opted_out") in fates
    assert ("Carla", "suppress", "no_reachable_channel") in fates
    assert ("Davi", "suppress", "payment_claim_under_review") in fates
    assert ("Elisa", "suppress", "superseded") in fates  # the older level
    assert ("Elisa", "send", "email") in fates  # today's level
    assert result.plan.queued == 5

    assert "Would send (2):" in report
    assert "Suppressed (4):" in report
    for reason in ("opted_out", "no_reachable_channel", "payment_claim_under_review", "superseded"):
        assert reason in report
    # When, in the debtor's local time; who, by reference and first name only.
    assert "2026-03-10 12:00 -03" in report
    assert "Souza" not in report and "Ana" in report
    assert "nothing was written" in report
    summary = report.split("outcome")[-1]
    assert "suppress" in summary and "total" in summary and "6" in summary

    assert _footprint(db_session) == before


def test_the_dry_run_shows_deferrals_with_their_reason_and_time(engine, db_session, campaign):
    sunday = datetime(2026, 3, 15, 15, 0, tzinfo=timezone.utc)  # Brazil: no contact on Sundays
    out = io.StringIO()
    result = cli.run_dry(sunday, out, session_factory(engine))
    deferred = [entry for entry in result.entries if entry.outcome == "defer"]
    assert deferred and all(entry.reason == "excluded_weekday" for entry in deferred)
    assert all(entry.at_local.date() == date(2026, 3, 16) for entry in deferred)
    assert "excluded_weekday" in out.getvalue()


def test_the_preview_route_answers_the_same_without_writing(app, engine, db_session, campaign):
    if not any(getattr(route, "path", "") == "/api/v1/campaigns/preview" for route in app.routes):
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(require_service_token)])
    before = _footprint(db_session)
    with TestClient(app, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as client:
        answer = client.get("/api/v1/campaigns/preview", params={"at": NOW.isoformat()})
        naive = client.get("/api/v1/campaigns/preview", params={"at": "2026-03-10T15:00:00"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["planned"] == 5 and body["superseded"] == 1
    reasons = {(row["outcome"], row["reason"]): row["count"] for row in body["summary"]}
    assert reasons[("suppress", "opted_out")] == 1
    assert reasons[("send", "whatsapp")] == 1
    assert all(row["debtor_ref"].startswith("C-") for row in body["messages"])
    assert naive.status_code == 422
    assert _footprint(db_session) == before


def test_the_final_notice_still_goes_after_the_debtor_changes_segment(engine, db_session):
    """The review it announces was planned: a new segment's shorter cadence does not undo it."""
    creditor = factories.creditor(db_session)
    cadence.seed_defaults(db_session, creditor)
    contact_rules.seed_defaults(db_session)
    person = factories.debtor(db_session, creditor, risk_segment="high", email="x@example.com")
    factories.debt(
        db_session, person, due_date=TODAY - timedelta(days=40), status=DebtStatus.OVERDUE
    )
    db_session.commit()
    plan_due(db_session, NOW - timedelta(days=1))
    person.risk_segment = "low"  # low has 5 levels; the final notice was level 7
    db_session.commit()

    result = cli.run_dry(NOW, io.StringIO(), session_factory(engine))
    [entry] = [e for e in result.entries if e.level == 7]
    assert (entry.outcome, entry.channel) == ("send", "email")
