"""The scheduler process: plans the outbox every minute and runs the nightly jobs.

    python -m backend.campaigns.scheduler [--once] [--nightly-hour H]

Every minute: the follow-up of promises and plans (`followup.run`), then the cadence levels
due today (`planner.plan_due`). Every hour: interest and fees accrue (`ledger.accrual.accrue_all`;
hourly because "yesterday" ends at a different hour in each debtor's time zone, and each run
only touches debts not yet accrued through their own local day). Every night at
`--nightly-hour` (UTC; default the setting `ACORDO_SCHEDULER_NIGHTLY_HOUR_UTC`, 2): risk
segments and recovery priorities are recomputed (`segments.service.recompute_all`). Each job
runs in its own session with the clock read once, and logs a one-line summary of counts
(never a name, a document or an amount). `--once` runs every job once, in that order, and exits.

Several schedulers at once are safe, so a deployment may run two for availability: every
outbox row has a unique dedupe key inserted with ON CONFLICT DO NOTHING, superseding and
escalation are conditional UPDATEs that only one planner wins, follow-up transitions are
conditional too, ledger entries have a unique key per debt and period, and segment
recomputation gives the same answer twice. A second scheduler costs queries, never a message.
Sending is the sender's process (`backend.gateway.sender`), not this one.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

import backend.models  # noqa: F401  (every mapper, before the first query)
from backend.config import get_settings
from backend.db import get_engine, session_factory, utcnow
from backend.observability.logs import configure_logging

log = logging.getLogger("backend.campaigns.scheduler")

Job = Callable[[Session, datetime], object]


def plan_cadence(db_session: Session, now: datetime) -> object:
    from backend.campaigns import planner

    return planner.plan_due(db_session, now).summary()


def follow_up(db_session: Session, now: datetime) -> object:
    from backend.campaigns import followup

    return followup.run(db_session, now)


def accrue(db_session: Session, now: datetime) -> object:
    from backend.ledger import accrual

    return f"debts={accrual.accrue_all(db_session, now)}"


def recompute_segments(db_session: Session, now: datetime) -> object:
    from backend.segments import service

    return service.recompute_all(db_session, now).line()


# Follow-up first: a promise or plan it finds broken puts the debt back in the cadence at once.
EVERY_MINUTE: tuple[Job, ...] = (follow_up, plan_cadence)
HOURLY: tuple[Job, ...] = (accrue,)
NIGHTLY: tuple[Job, ...] = (recompute_segments,)


def run_job(sessions: sessionmaker[Session], job: Job, *, now: datetime | None = None) -> bool:
    """Run one job in its own session and commit; log its summary or its failure.

    A failing job is logged and rolled back, so the next jobs and the next minute still run.
    """
    started = time.monotonic()
    with sessions() as db_session:
        try:
            summary = job(db_session, now or utcnow())
            db_session.commit()
        except Exception as exc:
            db_session.rollback()
            # The type only: an exception's text may quote values from the database.
            log.error(
                "%s failed: %s",
                job.__name__,
                type(exc).__name__,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            return False
    log.info("%s done in %.1fs: %s", job.__name__, time.monotonic() - started, _short(summary))
    return True


def run_all_once(sessions: sessionmaker[Session], *, now: datetime | None = None) -> bool:
    """Every job once: what the minute runs, then what the night runs. True when all passed."""
    results = [run_job(sessions, job, now=now) for job in (*EVERY_MINUTE, *HOURLY, *NIGHTLY)]
    return all(results)


def _short(summary: object) -> str:
    text = str(summary) if summary is not None else "ok"
    return text if len(text) <= 200 else text[:197] + "..."


def serve(sessions: sessionmaker[Session], *, nightly_hour: int) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(
        timezone="UTC",
        # A run that is late (the process was busy or asleep) runs once, not once per miss.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    # The jobs of one schedule run one after the other (segments read the balances accrual
    # wrote); a schedule still running when its next time comes is not started twice.
    scheduler.add_job(
        _run_all,
        "interval",
        minutes=1,
        args=(sessions, EVERY_MINUTE),
        id="every_minute",
        next_run_time=utcnow(),
    )
    scheduler.add_job(
        _run_all, "cron", minute=5, args=(sessions, HOURLY), id="hourly", next_run_time=utcnow()
    )
    scheduler.add_job(
        _run_all, "cron", hour=nightly_hour, minute=0, args=(sessions, NIGHTLY), id="nightly"
    )
    log.info(
        "scheduler started: every minute %s; hourly %s; nightly at %02d:00 UTC %s",
        [job.__name__ for job in EVERY_MINUTE],
        [job.__name__ for job in HOURLY],
        nightly_hour,
        [job.__name__ for job in NIGHTLY],
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopped")


def _run_all(sessions: sessionmaker[Session], jobs: tuple[Job, ...]) -> None:
    for job in jobs:
        run_job(sessions, job)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.campaigns.scheduler",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--once", action="store_true", help="run every job once and exit")
    parser.add_argument(
        "--nightly-hour",
        type=int,
        choices=range(24),
        metavar="H",
        default=get_settings().scheduler_nightly_hour_utc,
        help="hour (UTC) of the nightly segment job",
    )
    args = parser.parse_args(argv)
    configure_logging("scheduler")
    sessions = session_factory(get_engine())
    if args.once:
        return 0 if run_all_once(sessions) else 1
    serve(sessions, nightly_hour=args.nightly_hour)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
