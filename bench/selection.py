"""Due-reminder selection over 1,000,000 debts on PostgreSQL, next to the same over 100,000.

A throwaway PostgreSQL (tests.pg_server) gets the schema, one creditor with the default cadence
of each segment, and debtors with one debt each, generated in the database with
`INSERT … SELECT generate_series` (segments low/medium/high, two time zones, due dates spread
over 430 days, a tenth paid and a tenth in a plan). Then the planner's reads are timed as
`plan_due` makes them, without its writes: for every cadence policy, time zone and level
window, the keyset-paged selection of open debts due at that level (`_by_due_date`, pages of
1,000) and the restarted-plan query (`_restarted`). The first page of the largest window is
shown with EXPLAIN ANALYZE, and whether an index serves it. First at 100,000 debts (the
baseline), then 900,000 more are added and the same is timed again: the ratio shows how the
selection scales with ten times the debts.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.campaigns import cadence, planner
from backend.db import make_engine, utcnow
from backend.debtors.models import Debtor
from backend.debts.models import Debt
from backend.migrate import upgrade_to_head
from bench.report import Figure
from tests import factories
from tests.pg_server import ThrowawayPostgres

BATCH = 1000
SELECTION_DEADLINE = 900.0  # seconds; the million took 530-600 s here; a cut selection says so
ZONES = ("America/Sao_Paulo", "Europe/Madrid")

DEBTORS_SQL = """
INSERT INTO debtors (creditor_id, external_ref, full_name, document_kind, document_number,
    birth_date, country, timezone, preferred_language, risk_segment, recovery_priority_minor,
    failed_verifications, created_at)
SELECT CAST(:creditor AS integer), 'B-' || n, 'Bench Debtor', 'CPF', lpad(n::text, 11, '0'),
    date '1960-01-01' + (n % 15000), 'BR', (ARRAY['America/Sao_Paulo', 'Europe/Madrid'])[1 + n % 2],
    'pt_BR', (ARRAY['low', 'medium', 'high'])[1 + (n / 2) % 3], (n::bigint * 7919) % 100000,
    0, now()
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS n
"""
DEBTS_SQL = """
INSERT INTO debts (reference, debtor_id, creditor_id, product, currency, principal_minor,
    fees_minor, interest_minor, outstanding_minor, due_date, status, late_interest_monthly_pct,
    late_fee_pct, version, created_at, updated_at)
SELECT 'BD-' || d.id, d.id, d.creditor_id, 'Cartão de crédito', 'BRL', 100000 + d.id % 50000,
    0, 0, CASE WHEN d.id % 10 = 0 THEN 0 ELSE 100000 + d.id % 50000 END,
    current_date + 30 - (d.id % 430),
    CASE WHEN d.id % 10 = 0 THEN 'paid' WHEN d.id % 10 = 1 THEN 'in_plan'
         WHEN current_date + 30 - (d.id % 430) >= current_date THEN 'current'
         ELSE 'overdue' END,
    1, 2, 0, now(), now()
FROM debtors d
WHERE d.external_ref LIKE 'B-%' AND NOT EXISTS (SELECT 1 FROM debts WHERE debts.debtor_id = d.id)
"""


@dataclass
class Selection:
    debts: int
    seconds: float
    selected: int
    queries: int
    complete: bool
    first_page_ms: float  # EXPLAIN ANALYZE execution time of the largest window's first page
    plan: str
    indexes: list[str]


def _populate(engine: Engine, creditor_id: int, first: int, last: int) -> None:
    with engine.begin() as connection:
        # Generating a million rows takes longer than the application's statement timeout.
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        connection.execute(
            text(DEBTORS_SQL), {"creditor": creditor_id, "first": first, "last": last}
        )
        connection.execute(text(DEBTS_SQL))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SET statement_timeout = 0"))
        connection.execute(text("VACUUM ANALYZE debtors"))
        connection.execute(text("VACUUM ANALYZE debts"))


def _explain(db_session: Session, query) -> tuple[str, float]:
    page = query.order_by(Debtor.recovery_priority_minor.desc(), Debt.id).limit(BATCH)
    compiled = page.compile(
        dialect=db_session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    connection = db_session.connection()
    rows = connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params
    ).all()
    plan = "\n".join(row[0] for row in rows)
    found = re.search(r"Execution Time: ([\d.]+) ms", plan)
    return plan, float(found.group(1)) if found else float("nan")


def select_due(engine: Engine, debts: int) -> Selection:
    """Every page `plan_due` would read today, timed; the largest window's first page explained."""
    now = utcnow()
    selected = queries = 0
    largest: tuple[int, object] = (-1, None)
    complete = True
    started = time.perf_counter()
    with Session(engine) as db_session:
        zones = planner._time_zones(db_session)
        for policy in cadence.list_policies(db_session=db_session):
            for zone_name in zones.get((policy.creditor_id, policy.risk_segment), ()):
                today = now.astimezone(ZoneInfo(zone_name)).date()
                queries_here = [
                    planner._by_due_date(policy, zone_name, window)
                    for window in planner._windows(policy, today)
                ]
                queries_here.append(planner._restarted(policy, zone_name, today))
                for query in queries_here:
                    in_window = 0
                    for batch in planner._batches(db_session, query, BATCH):
                        in_window += len(batch)
                        queries += 1
                        if time.perf_counter() - started > SELECTION_DEADLINE:
                            complete = False
                            break
                    queries += 1 if in_window % BATCH == 0 else 0  # the empty last page
                    selected += in_window
                    if in_window > largest[0]:
                        largest = (in_window, query)
                    if not complete:
                        break
        seconds = time.perf_counter() - started
        plan, first_page_ms = _explain(db_session, largest[1])
    indexes = sorted(set(re.findall(r"Index (?:Only )?Scan(?: Backward)? using (\w+)", plan)))
    indexes += sorted(set(re.findall(r"Bitmap Index Scan on (\w+)", plan)) - set(indexes))
    return Selection(debts, seconds, selected, queries, complete, first_page_ms, plan, indexes)


def _rate(selection: Selection) -> float | None:
    return selection.selected / selection.seconds if selection.seconds else None


def measure(*, debts: int, baseline_debts: int, progress=print) -> tuple[list[Figure], dict]:
    with ThrowawayPostgres() as server:
        url = server.create_database("acordo_bench")
        upgrade_to_head(url)
        engine = make_engine(url)
        try:
            with Session(engine) as db_session:
                creditor = factories.creditor(db_session)
                cadence.seed_defaults(db_session, creditor)
                db_session.commit()
                creditor_id = creditor.id
            results = []
            inserted = 0
            for size in (baseline_debts, debts):
                started = time.perf_counter()
                _populate(engine, creditor_id, inserted + 1, size)
                inserted = size
                progress(
                    f"selection: {size:,} debts generated in {time.perf_counter() - started:.0f} s"
                )
                result = select_due(engine, size)
                progress(
                    f"selection over {size:,} debts: {result.selected:,} selected in "
                    f"{result.seconds:.1f} s ({result.queries} queries); indexes {result.indexes}"
                )
                results.append(result)
        finally:
            engine.dispose()
    small, large = results
    note = "" if large.complete else f"cut at the {SELECTION_DEADLINE:.0f} s deadline"
    figures = [
        Figure("selection", f"due-reminder selection, {large.debts:,} debts", large.seconds, "s",
               baseline=small.seconds, baseline_name=f"same over {small.debts:,} debts", note=note),
        Figure("selection", "debts selected (open, due at a level today)", large.selected, "",
               baseline=small.selected, baseline_name=f"over {small.debts:,} debts"),
        Figure("selection", f"first page of {BATCH:,} of the largest window (EXPLAIN ANALYZE)",
               large.first_page_ms, "ms", baseline=small.first_page_ms,
               baseline_name=f"over {small.debts:,} debts"),
        Figure("selection", "selection rate", _rate(large), "debts/s", baseline=_rate(small),
               baseline_name=f"over {small.debts:,} debts"),
    ]  # fmt: skip
    details = {
        "indexes_used": large.indexes,
        "plan": large.plan,
        "baseline_plan": small.plan,
        "queries": large.queries,
        "baseline_queries": small.queries,
    }
    return figures, details
