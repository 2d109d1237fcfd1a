"""Negotiation policies: what the creditor allows per risk segment and currency."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow
from backend.negotiation.engine import PolicyLimits


class NegotiationPolicy(Base):
    __tablename__ = "negotiation_policies"
    __table_args__ = (
        UniqueConstraint("creditor_id", "risk_segment", "currency"),
        CheckConstraint("max_installments >= 1", name="max_installments_positive"),
        CheckConstraint(
            "min_down_payment_pct >= 0 AND min_down_payment_pct <= 100", name="down_pct_range"
        ),
        CheckConstraint("min_installment_minor >= 1", name="min_installment_positive"),
        CheckConstraint("max_plan_days >= max_days_to_first_payment", name="plan_days_cover"),
        CheckConstraint("max_days_to_first_payment >= 0", name="first_payment_days"),
        CheckConstraint(
            "max_settlement_discount_pct >= 0 AND max_settlement_discount_pct < 100",
            name="discount_range",
        ),
        CheckConstraint("plan_interest_monthly_pct >= 0", name="interest_not_negative"),
        CheckConstraint("max_broken_promises >= 0", name="broken_promises_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditors.id"))
    risk_segment: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    max_installments: Mapped[int] = mapped_column(Integer)
    min_down_payment_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    min_installment_minor: Mapped[int] = mapped_column(BigInteger)
    max_plan_days: Mapped[int] = mapped_column(Integer)
    max_days_to_first_payment: Mapped[int] = mapped_column(Integer)
    max_settlement_discount_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    plan_interest_monthly_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    max_broken_promises: Mapped[int] = mapped_column(Integer)
    # An installment unpaid this many days after its due date is late …
    installment_grace_days: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    # … and this many late installments break the plan: the debt returns to collection.
    max_late_installments: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def limits(self) -> PolicyLimits:
        return PolicyLimits(
            max_installments=self.max_installments,
            min_down_payment_pct=Decimal(self.min_down_payment_pct),
            min_installment_minor=self.min_installment_minor,
            max_plan_days=self.max_plan_days,
            max_days_to_first_payment=self.max_days_to_first_payment,
            max_settlement_discount_pct=Decimal(self.max_settlement_discount_pct),
            plan_interest_monthly_pct=Decimal(self.plan_interest_monthly_pct),
            max_broken_promises=self.max_broken_promises,
        )


# The limits shown to a verified debtor with their terms (amounts as decimal strings).
class PolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    risk_segment: str
    currency: str
    max_installments: int
    min_down_payment_pct: Decimal
    min_installment: Decimal
    max_plan_days: int
    max_days_to_first_payment: int
    max_settlement_discount_pct: Decimal
    plan_interest_monthly_pct: Decimal
