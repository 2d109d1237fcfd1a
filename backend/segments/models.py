"""Recorded segment changes: when a debtor's risk segment moved, and why."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow


class SegmentChange(Base):
    __tablename__ = "segment_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    from_segment: Mapped[str] = mapped_column(String(32))
    to_segment: Mapped[str] = mapped_column(String(32))
    score: Mapped[int] = mapped_column(Integer)
    pay_likelihood: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    recovery_priority_minor: Mapped[int] = mapped_column(BigInteger)
    # Each scorecard factor with its points, as the scorecard explains them.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
