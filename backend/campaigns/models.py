"""Cadence policies (dunning levels per creditor and risk segment) and contact rules per country."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, UTCDateTime, utcnow

# The contact rule used for a country without its own row.
DEFAULT_COUNTRY = "*"


class CadencePolicy(Base):
    """Which messages a debt gets around its due date, in which channel order."""

    __tablename__ = "cadence_policies"
    __table_args__ = (UniqueConstraint("creditor_id", "risk_segment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditors.id"), index=True)
    risk_segment: Mapped[str] = mapped_column(String(32))
    # Outbound channel values ("whatsapp", "telegram", "webchat", "email"), tried in order.
    channel_order: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    steps: Mapped[list[CadenceStep]] = relationship(
        back_populates="policy", order_by="CadenceStep.level", cascade="all, delete-orphan"
    )


class CadenceStep(Base):
    """One dunning level: sent `offset_days` after the due date (negative: before it)."""

    __tablename__ = "cadence_steps"
    __table_args__ = (
        UniqueConstraint("policy_id", "level", name="uq_cadence_steps_policy_level"),
        UniqueConstraint("policy_id", "offset_days", name="uq_cadence_steps_policy_offset"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("cadence_policies.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)  # 1-based, in offset order
    offset_days: Mapped[int] = mapped_column(Integer)
    # Which catalog message this level sends (backend/campaigns/messages.py).
    message: Mapped[str] = mapped_column(String(32))
    # The last level: the conversation goes to the staff queue and the debt to legal review.
    escalate: Mapped[bool] = mapped_column(Boolean, default=False)

    policy: Mapped[CadencePolicy] = relationship(back_populates="steps")


class ContactRule(Base):
    """When and how often debtors in a country may be contacted (`*`: every other country)."""

    __tablename__ = "contact_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2), unique=True)  # ISO 3166-1 alpha-2, or "*"
    window_start: Mapped[time] = mapped_column(Time)  # debtor's local time
    window_end: Mapped[time] = mapped_column(Time)
    # Weekdays with no contact, 0 = Monday … 6 = Sunday.
    excluded_weekdays: Mapped[list[int]] = mapped_column(JSON)
    skip_public_holidays: Mapped[bool] = mapped_column(Boolean, default=True)
    max_per_day: Mapped[int] = mapped_column(Integer)
    max_per_7_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
