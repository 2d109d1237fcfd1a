"""The backend's Prometheus metrics, and their exposition at `GET /metrics`.

Counters and histograms live in this process and, when `PROMETHEUS_MULTIPROC_DIR` is set
(several uvicorn workers), in that directory, from which a scrape of any worker adds up all of
them; the variable must be set before the process starts, and the directory emptied at each
deployment's start.

The reminders of the last 24 hours and the queues (outbox, handoffs) are counted from the
database at scrape time (`backend/observability/queues.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.orm import Session

from backend.observability.queues import QueueGauges

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds: from a few milliseconds (a cached API call) to the Rasa timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)

TURNS = Counter(
    "acordo_turns", "Inbound turns through the gateway, by who answered", ["channel", "outcome"]
)
TURN_SECONDS = Histogram(
    "acordo_turn_seconds", "A whole gateway turn", ["channel"], buckets=LATENCY_BUCKETS
)
HOP_SECONDS = Histogram(
    "acordo_hop_seconds",
    "Time of one hop of a turn: gateway (turn minus Rasa), rasa (gateway to Rasa and back), "
    "backend_api (each /api/v1 request), database (SQL time of one request)",
    ["hop"],
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "acordo_http_requests", "HTTP requests by route template", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "acordo_http_request_seconds",
    "HTTP request duration by route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
ESCALATIONS = Counter("acordo_escalations", "Handoffs to staff opened, by reason", ["reason"])


def exposition(db_session: Session, now: datetime) -> tuple[bytes, str]:
    """The text a scrape receives, and its content type."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(QueueGauges(db_session, now))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _ThisProcess:
    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()
