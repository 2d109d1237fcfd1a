"""Payment plans and their installments, as accepted from an engine proposal."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import Channel, string_enum
from backend.negotiation.engine import PlanKind

if TYPE_CHECKING:
    from backend.debts.models import Debt


class PlanStatus(str, enum.Enum):
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class PaymentPlan(Base):
    __tablename__ = "payment_plans"
    __table_args__ = (
        # At most one active plan per debt, whatever the application does concurrently.
        Index(
            "uq_payment_plans_one_active_per_debt",
            "debt_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    debt_id: Mapped[int] = mapped_column(ForeignKey("debts.id"), index=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("negotiation_policies.id"))
    status: Mapped[PlanStatus] = mapped_column(string_enum(PlanStatus, 16))
    kind: Mapped[PlanKind] = mapped_column(string_enum(PlanKind, 16))
    currency: Mapped[str] = mapped_column(String(3))
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)
    interest_monthly_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    down_payment_minor: Mapped[int] = mapped_column(BigInteger)
    installment_count: Mapped[int] = mapped_column(Integer)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    channel: Mapped[Channel | None] = mapped_column(string_enum(Channel, 16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    debt: Mapped[Debt] = relationship()
    installments: Mapped[list[Installment]] = relationship(
        back_populates="plan", order_by="Installment.sequence", cascade="all, delete-orphan"
    )


class Installment(Base):
    __tablename__ = "installments"
    __table_args__ = (
        UniqueConstraint("plan_id", "sequence"),
        Index("ix_installments_due_date", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("payment_plans.id"))
    sequence: Mapped[int] = mapped_column(Integer)  # 1-based, in due-date order
    is_down_payment: Mapped[bool] = mapped_column(Boolean, default=False)
    due_date: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Set when still unpaid the policy's grace days after its due date.
    late_since: Mapped[date | None] = mapped_column(Date)

    plan: Mapped[PaymentPlan] = relationship(back_populates="installments")

    @property
    def is_paid(self) -> bool:
        return self.paid_minor >= self.amount_minor
