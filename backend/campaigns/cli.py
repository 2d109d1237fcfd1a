"""The campaign command: plan the cadence now and send, or show what would happen.

    python -m backend.campaigns.cli [--dry-run] [--at 2026-12-01T09:00:00-03:00]

Without `--dry-run`: queue today's cadence levels (committed), then run the sender once, which
sends what is due now and records every deferral and suppression.

With `--dry-run`: the same planning inside a transaction that is rolled back, and the compliance
gate asked about every pending message: what would be sent, to whom (debtor reference and first
name), on which channel and when (the debtor's local time), and every deferral and suppression
with its reason; then a summary by reason. Nothing is written. `--at` plans as of another
instant (the sender always sends by the real clock).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import datetime
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

import backend.models  # noqa: F401  (every mapper, before the first query)
from backend.campaigns.preview import DEFER, SEND, SUPPRESS, PreviewResult, dry_run
from backend.config import get_settings
from backend.db import get_engine, session_factory, utcnow

log = logging.getLogger("backend.campaigns.cli")


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant with its offset (a bare local time would be ambiguous)."""
    if value[-1:] in ("Z", "z"):  # Python 3.10 reads "+00:00" but not the "Z" people write
        value = value[:-1] + "+00:00"
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO datetime: {value!r}") from exc
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time zone offset, e.g. 2026-12-01T09:00Z")
    return instant


def print_preview(result: PreviewResult, out: TextIO) -> None:
    """One line per message, grouped by outcome, then the counts by reason."""
    labels = {SEND: "would send", DEFER: "deferred", SUPPRESS: "suppressed"}
    for outcome in (SEND, DEFER, SUPPRESS):
        entries = [entry for entry in result.entries if entry.outcome == outcome]
        if not entries:
            continue
        print(f"\n{labels[outcome].capitalize()} ({len(entries)}):", file=out)
        for entry in entries:
            what = entry.kind + (f" level {entry.level}" if entry.level is not None else "")
            when = entry.at_local.strftime("%Y-%m-%d %H:%M %Z") if entry.at_local else ""
            where = entry.channel or entry.reason or ""
            if entry.template_only:
                where += " (template)"
            print(
                f"  #{entry.outbox_id:<7} {entry.debtor_ref:<12} {entry.first_name:<14} "
                f"{entry.debt_reference or '':<12} {what:<22} {where:<28} {when}",
                file=out,
            )
    plan = result.plan
    print(
        f"\nPlanned as of {result.now.isoformat()}: {plan.queued} new, "
        f"{plan.superseded} superseded, {plan.escalated} sent to review; "
        "nothing was written.",
        file=out,
    )
    counts = result.counts()
    if not counts:
        print("Nothing is due.", file=out)
        return
    print(f"\n{'outcome':<12} {'reason / channel':<30} {'messages':>8}", file=out)
    for (outcome, reason), count in sorted(counts.items()):
        print(f"{outcome:<12} {reason:<30} {count:>8}", file=out)
    print(f"{'total':<12} {'':<30} {sum(counts.values()):>8}", file=out)


def run_dry(now: datetime, out: TextIO, sessions: sessionmaker[Session]) -> PreviewResult:
    """The dry run with a progress bar on stderr, then its report on `out`."""
    from tqdm import tqdm

    bar: tqdm | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="gate", unit="msg", file=sys.stderr)
        bar.update(done - bar.n)

    with sessions() as db_session:
        try:
            result = dry_run(db_session=db_session, now=now, progress=progress)
        finally:
            if bar is not None:
                bar.close()
    print_preview(result, out)
    return result


def run_now(now: datetime, out: TextIO, sessions: sessionmaker[Session]) -> int:
    """Plan (committed), then send what is due with one pass of the sender."""
    from backend.campaigns.planner import plan_due
    from backend.gateway import sender

    with sessions() as db_session:
        report = plan_due(db_session, now)
    print(f"Planned: {report.summary()}", file=out)
    totals = asyncio.run(sender.send_due(get_settings(), once=True))
    print(f"Sent: {totals}", file=out)
    return 0


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.campaigns.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would happen; write nothing"
    )
    parser.add_argument(
        "--at", type=parse_instant, default=None, help="plan as of this ISO instant (with offset)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("ACORDO_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    now = args.at or utcnow()
    sessions = session_factory(get_engine())
    if args.dry_run:
        run_dry(now, out, sessions)
        return 0
    return run_now(now, out, sessions)


if __name__ == "__main__":
    raise SystemExit(main())
