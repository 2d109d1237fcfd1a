"""The gateway's record of one inbound turn: its `turn` log line and its metrics.

The gateway calls `start_request_stats()` (backend/observability/timing.py) when a turn starts,
so that the turn's SQL time is its own even when one request carries several turns or none
(Telegram's updates are handled outside any request), and `observe_turn` when it ends.
"""

from __future__ import annotations

import logging

from backend.observability.metrics import HOP_SECONDS, TURN_SECONDS, TURNS
from backend.observability.timing import DbStats, current_request_stats

log = logging.getLogger("acordo.turns")

# Who answered the turn.
OUTCOMES = frozenset({"bot", "staff", "keyword", "unavailable"})


def observe_turn(
    *,
    channel: str,
    outcome: str,
    duration_s: float,
    rasa_s: float,
    db_stats: DbStats | None = None,
) -> None:
    """Log the `turn` line and count the turn; `db_stats` defaults to the current accumulator."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown turn outcome {outcome!r}")
    stats = db_stats or current_request_stats() or DbStats()
    TURNS.labels(channel=channel, outcome=outcome).inc()
    TURN_SECONDS.labels(channel=channel).observe(duration_s)
    HOP_SECONDS.labels(hop="gateway").observe(max(duration_s - rasa_s, 0.0))
    if rasa_s > 0:
        HOP_SECONDS.labels(hop="rasa").observe(rasa_s)
    log.info(
        "turn %s %s %.1fms",
        channel,
        outcome,
        duration_s * 1000,
        extra={
            "event": "turn",
            "channel": channel,
            "outcome": outcome,
            "duration_ms": round(duration_s * 1000, 3),
            "rasa_ms": round(rasa_s * 1000, 3),
            "db_ms": stats.ms,
            "db_queries": stats.queries,
        },
    )
