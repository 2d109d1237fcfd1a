"""Debts: what a debtor owes a creditor, in exact minor units of one currency."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import string_enum

if TYPE_CHECKING:
    from backend.creditors.models import Creditor
    from backend.debtors.models import Debtor


class DebtStatus(str, enum.Enum):
    CURRENT = "current"
    OVERDUE = "overdue"
    IN_PLAN = "in_plan"
    DISPUTED = "disputed"
    PAID = "paid"
    WRITTEN_OFF = "written_off"


class Debt(Base):
    __tablename__ = "debts"
    __table_args__ = (
        CheckConstraint("principal_minor >= 0", name="principal_not_negative"),
        CheckConstraint("fees_minor >= 0", name="fees_not_negative"),
        CheckConstraint("interest_minor >= 0", name="interest_not_negative"),
        CheckConstraint("outstanding_minor >= 0", name="outstanding_not_negative"),
        # The planner's set-based selection of debts at each cadence level.
        Index("ix_debts_status_due_date", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditors.id"), index=True)
    product: Mapped[str] = mapped_column(String(120))
    currency: Mapped[str] = mapped_column(String(3))
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    fees_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    outstanding_minor: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[DebtStatus] = mapped_column(string_enum(DebtStatus, 16))
    # Kept while a dispute pauses collection, to return to when it is resolved.
    status_before_dispute: Mapped[DebtStatus | None] = mapped_column(
        string_enum(DebtStatus, 16, name="status_before_dispute")
    )
    late_interest_monthly_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3), default=Decimal(0))
    late_fee_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3), default=Decimal(0))
    # Set by the last cadence level: a person reviews the debt before any legal step (never
    # automatic, and never announced to the debtor as a threat).
    legal_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The day up to which late interest and the late fee are posted to the ledger.
    accrued_through: Mapped[date | None] = mapped_column(Date)
    # Bumped by every write that must not interleave with another (see `lock_for_update`).
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    debtor: Mapped[Debtor] = relationship(back_populates="debts")
    creditor: Mapped[Creditor] = relationship()
