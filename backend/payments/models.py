"""Payments received, and debtors' claims that they already paid."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import Channel, string_enum


class Payment(Base):
    """A payment reported by the creditor's payment provider; idempotent by external id."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    debt_id: Mapped[int] = mapped_column(ForeignKey("debts.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    # The part of the amount that exceeded the balance, to be refunded by the creditor.
    overpaid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClaimStatus(str, enum.Enum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class PaymentClaim(Base):
    """A debtor says they already paid: reminders pause until staff check it."""

    __tablename__ = "payment_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    debt_id: Mapped[int] = mapped_column(ForeignKey("debts.id"), index=True)
    paid_on: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    receipt_reference: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[ClaimStatus] = mapped_column(string_enum(ClaimStatus, 16))
    channel: Mapped[Channel | None] = mapped_column(string_enum(Channel, 16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
