"""Ledger entries: every change to a debt's balance, dated, so that each balance is explained."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import string_enum


class EntryKind(str, enum.Enum):
    PRINCIPAL = "principal"
    INTEREST = "interest"  # late interest, pro rata by day
    LATE_FEE = "late_fee"  # once
    PAYMENT = "payment"
    DISCOUNT = "discount"  # a settlement's forgiven part
    ADJUSTMENT = "adjustment"  # a correction (an upheld dispute, say)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("debt_id", "entry_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    debt_id: Mapped[int] = mapped_column(ForeignKey("debts.id"), index=True)
    kind: Mapped[EntryKind] = mapped_column(string_enum(EntryKind, 16))
    # Positive adds to the balance, negative takes from it.
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    effective_date: Mapped[date] = mapped_column(Date)
    # Makes posting idempotent: "interest:2026-11-29", "late_fee", "payment:17"…
    entry_key: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
