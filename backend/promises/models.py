"""Promises to pay: a debtor's word to pay an amount by a date, kept or broken."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import Channel, string_enum


class PromiseStatus(str, enum.Enum):
    ACTIVE = "active"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class PromiseToPay(Base):
    __tablename__ = "promises_to_pay"
    __table_args__ = (
        Index(
            "uq_promises_to_pay_one_active_per_debt",
            "debt_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_promises_to_pay_status_promised_date", "status", "promised_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    debt_id: Mapped[int] = mapped_column(ForeignKey("debts.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    # What had been paid on the debt when the promise was made: payments above it count.
    paid_before_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    promised_date: Mapped[date] = mapped_column(Date)
    status: Mapped[PromiseStatus] = mapped_column(string_enum(PromiseStatus, 16))
    channel: Mapped[Channel | None] = mapped_column(string_enum(Channel, 16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
