"""The scheduler's jobs: each in its own session, a failure never stops the others."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select

from backend.campaigns import cadence, contact_rules, scheduler
from backend.db import session_factory
from backend.debts.models import DebtStatus
from backend.gateway.models import OutboxMessage
from tests import factories

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=timezone.utc)


def _one_overdue_debt(db_session) -> None:
    creditor = factories.creditor(db_session)
    cadence.seed_defaults(db_session, creditor)
    contact_rules.seed_defaults(db_session)
    factories.policy(db_session, creditor)
    person = factories.debtor(db_session, creditor)
    factories.debt(db_session, person, due_date=date(2026, 3, 7), status=DebtStatus.OVERDUE)
    db_session.commit()


def test_once_runs_every_job_and_plans_twice_nothing_more(engine, db_session, caplog):
    _one_overdue_debt(db_session)
    sessions = session_factory(engine)
    with caplog.at_level(logging.INFO, logger="backend.campaigns.scheduler"):
        assert scheduler.run_all_once(sessions, now=NOW)
        assert scheduler.run_all_once(sessions, now=NOW + timedelta(minutes=1))
    assert db_session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    names = {job.__name__ for job in (*scheduler.EVERY_MINUTE, *scheduler.NIGHTLY)}
    summaries = [record.getMessage() for record in caplog.records]
    for name in names:
        assert any(message.startswith(f"{name} done") for message in summaries), name
    # One line per job, counts only: no names of debtors.
    assert not any("Ana" in message or "Souza" in message for message in summaries)


def test_a_failing_job_is_rolled_back_and_the_others_still_run(
    engine, db_session, monkeypatch, caplog
):
    _one_overdue_debt(db_session)

    def broken(db_session, now):
        raise RuntimeError("boom: something with a debtor's name")

    broken.__name__ = "follow_up"
    monkeypatch.setattr(scheduler, "EVERY_MINUTE", (broken, scheduler.plan_cadence))
    with caplog.at_level(logging.INFO, logger="backend.campaigns.scheduler"):
        assert not scheduler.run_all_once(session_factory(engine), now=NOW)
    assert db_session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    failure = next(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert failure == "follow_up failed: RuntimeError"  # the type, never the text
