"""Gauges read from the database at scrape time: reminders of the last 24 hours, and queues.

Other processes (senders, the scheduler, staff consoles) change these rows, so no process can
keep the numbers itself. On PostgreSQL the counts give up after `STATEMENT_TIMEOUT_MS`; a
scrape then answers without them rather than late.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.gateway.models import OutboxMessage, OutboxStatus
from backend.handoffs.models import Handoff, HandoffStatus

log = logging.getLogger(__name__)

STATEMENT_TIMEOUT_MS = 2000
RECENT = timedelta(hours=24)


class QueueGauges:
    """`acordo_reminders`, `acordo_outbox_queue` and `acordo_handoff_queue`, read at scrape."""

    def __init__(self, db_session: Session, now: datetime) -> None:
        self.db_session, self.now = db_session, now

    def collect(self) -> Iterator[Metric]:
        try:
            if self.db_session.get_bind().dialect.name == "postgresql":
                self.db_session.execute(
                    text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
                )
            families = [self._reminders(), self._outbox_queue(), self._handoff_queue()]
        except SQLAlchemyError as exc:
            log.warning("queue gauges skipped: %s", exc.__class__.__name__)
            return
        finally:
            self.db_session.rollback()
        yield from families

    def _reminders(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "acordo_reminders",
            "Outbox messages whose status changed in the last 24 hours, by status and "
            "suppression reason",
            labels=["status", "reason"],
        )
        query = (
            select(OutboxMessage.status, OutboxMessage.suppression_reason, func.count())
            .where(OutboxMessage.updated_at >= self.now - RECENT)
            .group_by(OutboxMessage.status, OutboxMessage.suppression_reason)
        )
        for status, reason, count in self.db_session.execute(query):
            family.add_metric([_value(status), reason or ""], count)
        return family

    def _outbox_queue(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "acordo_outbox_queue",
            "Outbox messages waiting: pending (never tried), retry (tried, waiting again), "
            "sending (leased by a sender)",
            labels=["status"],
        )
        retried = OutboxMessage.attempts > 0
        query = (
            select(OutboxMessage.status, retried, func.count())
            .where(OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
            .group_by(OutboxMessage.status, retried)
        )
        counts = {"pending": 0, "retry": 0, "sending": 0}
        for status, was_tried, count in self.db_session.execute(query):
            if status == OutboxStatus.SENDING:
                counts["sending"] += count
            else:
                counts["retry" if was_tried else "pending"] += count
        for status, count in counts.items():
            family.add_metric([status], count)
        return family

    def _handoff_queue(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "acordo_handoff_queue", "Open handoffs: queued, or assigned to staff", labels=["status"]
        )
        query = (
            select(Handoff.status, func.count())
            .where(Handoff.status.in_([HandoffStatus.QUEUED, HandoffStatus.ASSIGNED]))
            .group_by(Handoff.status)
        )
        counts = {"queued": 0, "assigned": 0}
        for status, count in self.db_session.execute(query):
            counts[_value(status)] = count
        for status, count in counts.items():
            family.add_metric([status], count)
        return family


def _value(status) -> str:
    return getattr(status, "value", status)
