"""Benchmark: the negotiation engine and the quote endpoint, against baselines of the same run.

Figures: engine decisions per second (baseline: laying out one 12-installment annuity plan,
the engine's unit of work) and quote request latency on SQLite (baseline: the /health route
through the same stack). Ratios say how many baseline units a decision or quote costs.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from backend.negotiation.engine import (
    DebtPosition,
    PlanRequest,
    PolicyLimits,
    build_installment_plan,
    decide,
)

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


def timed(function, repeat: int) -> float:
    """Seconds per call, the median of five rounds."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        rounds.append((time.perf_counter() - start) / repeat)
    return statistics.median(rounds)


def bench_engine() -> None:
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

    decision = timed(one_decision, 200)
    layout = timed(one_layout, 2000)
    print(f"engine decide():           {decision * 1e6:9.1f} µs  ({1 / decision:,.0f}/s)")
    print(f"baseline plan layout:      {layout * 1e6:9.1f} µs  ({1 / layout:,.0f}/s)")
    print(f"ratio decide / layout:     {decision / layout:9.1f}x")


def bench_quote_endpoint() -> None:
    from fastapi.testclient import TestClient

    from backend.config import Settings, get_settings
    from backend.db import get_db, make_engine, session_factory, utcnow
    from backend.main import create_app
    from backend.migrate import upgrade_to_head
    from backend.seed import seed

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        upgrade_to_head(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        with sessions() as session:
            seed(db_session=session, now=utcnow())
        app = create_app()

        def db():
            with sessions() as session:
                yield session

        app.dependency_overrides[get_db] = db
        app.dependency_overrides[get_settings] = lambda: Settings(
            database_url=url, service_token="bench"
        )
        with TestClient(app, headers={"Authorization": "Bearer bench"}) as client:
            contact = "/api/v1/contacts/webchat/bench"
            client.post(
                f"{contact}/verification",
                json={"document_suffix": "8909", "birth_date": "1988-03-14"},
            )
            quote = timed(
                lambda: client.post(f"{contact}/debts/D-BR-0001/quotes", json={"installments": 24}),
                20,
            )
            health = timed(lambda: client.get("/health"), 100)
        engine.dispose()
    print(f"POST quote (SQLite):       {quote * 1e3:9.2f} ms")
    print(f"baseline GET /health:      {health * 1e3:9.2f} ms")
    print(f"ratio quote / health:      {quote / health:9.1f}x")


if __name__ == "__main__":
    bench_engine()
    bench_quote_endpoint()
