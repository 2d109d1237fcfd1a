"""Benchmark: the negotiation engine and the plan quote, against baselines of the same run.

Figures: engine decisions (baseline: laying out one 12-installment annuity plan, the engine's
unit of work), and the quote endpoint's latency over HTTP on the running backend (SQLite, a
verified web chat contact asking 24 installments of a medium-segment debt: counter-offers),
next to the same quote computed in-process by `plans.quote` on the same database, without HTTP,
authentication or the contact checks. The ratio is what serving a quote adds to computing it.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import date
from decimal import Decimal

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.debts.models import Debt
from backend.negotiation.engine import (
    DebtPosition,
    PlanRequest,
    PolicyLimits,
    build_installment_plan,
    decide,
)
from backend.plans import service as plans
from backend.plans.schemas import PlanAsk
from backend.seed import DEMO_PERSONAS
from bench.api_backend import ApiBackend, contact_headers
from bench.report import Figure, percentile

POLICY = PolicyLimits(
    max_installments=24,
    min_down_payment_pct=Decimal("10"),
    min_installment_minor=5000,
    max_plan_days=740,
    max_days_to_first_payment=15,
    max_settlement_discount_pct=Decimal("20"),
    plan_interest_monthly_pct=Decimal("1.49"),
    max_broken_promises=2,
)
TODAY = date(2026, 11, 24)
ASK = {"installments": 24}
PERSONA = DEMO_PERSONAS[0]  # Ana Souza, D-BR-0001, medium segment: 24 is beyond her 12
DEBT = PERSONA.external_ref.replace("C-", "D-")


def timed(function, repeat: int) -> float:
    """Seconds per call, the median of five rounds."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        rounds.append((time.perf_counter() - start) / repeat)
    return statistics.median(rounds)


def measure_engine(*, quick: bool = False) -> list[Figure]:
    rng = random.Random(7)
    positions = [
        DebtPosition(
            outstanding_minor=rng.randint(10_000, 5_000_000), currency="BRL", status="overdue"
        )
        for _ in range(64)
    ]
    asks = [PlanRequest(installments=rng.randint(1, 48)) for _ in range(32)] + [
        PlanRequest(monthly_amount_minor=rng.randint(1_000, 200_000)) for _ in range(32)
    ]
    cases = list(zip(positions, asks, strict=True))
    index = iter(range(10**9))

    def one_decision():
        position, ask = cases[next(index) % len(cases)]
        decide(position=position, policy=POLICY, request=ask, today=TODAY)

    def one_layout():
        build_installment_plan(
            position=positions[0],
            policy=POLICY,
            count=12,
            down_payment_minor=100_000,
            start=TODAY,
            today=TODAY,
        )

    decision = timed(one_decision, 20 if quick else 200)
    layout = timed(one_layout, 200 if quick else 2000)
    return [
        Figure(
            "quote",
            "engine decide()",
            decision * 1e6,
            "µs",
            baseline=layout * 1e6,
            baseline_name="one 12-installment plan layout",
        )
    ]


def _latencies(function, repeat: int) -> list[float]:
    values = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        values.append(time.perf_counter() - start)
    return values


def measure_quote(backend: ApiBackend, *, requests: int) -> list[Figure]:
    """Quote p50/p99 over HTTP next to the same quote in-process on the same database."""
    with backend.client() as client:
        session_id = client.post("/chat/api/sessions").json()["session_id"]
        contact = f"/api/v1/contacts/webchat/{session_id}"
        headers = contact_headers("webchat", session_id)
        verified = client.post(
            f"{contact}/verification",
            json={
                "document_suffix": "".join(c for c in PERSONA.document if c.isalnum())[-4:],
                "birth_date": PERSONA.birth_date.isoformat(),
            },
            headers=headers,
        )
        verified.raise_for_status()

        def over_http() -> None:
            response = client.post(f"{contact}/debts/{DEBT}/quotes", json=ASK, headers=headers)
            response.raise_for_status()

        for _ in range(5):
            over_http()
        http = _latencies(over_http, requests)

    engine = create_engine(backend.database_url)
    try:
        with Session(engine) as db_session:
            debt = db_session.scalars(select(Debt).where(Debt.reference == DEBT)).one()
            ask = PlanAsk(**ASK)

            def in_process() -> None:
                plans.quote(db_session=db_session, debt=debt, ask=ask, now=utcnow())

            for _ in range(5):
                in_process()
            local = _latencies(in_process, requests)
    finally:
        engine.dispose()
    baseline = "same quote in-process (plans.quote, no HTTP)"
    return [
        Figure("quote", f"plan quote p{q} over HTTP", percentile(http, q / 100) * 1e3, "ms",
               baseline=percentile(local, q / 100) * 1e3, baseline_name=f"{baseline} p{q}")
        for q in (50, 99)
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.report import text_table

    print(text_table(measure_engine()))
