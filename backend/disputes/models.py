"""Disputes: a debtor contests a debt; collection pauses until staff resolve it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import Channel, string_enum


class DisputeReason(str, enum.Enum):
    NOT_MINE = "not_mine"
    ALREADY_PAID = "already_paid"
    WRONG_AMOUNT = "wrong_amount"
    FRAUD = "fraud"
    OTHER = "other"


class DisputeStatus(str, enum.Enum):
    OPEN = "open"
    UPHELD = "upheld"  # the debtor was right
    REJECTED = "rejected"


class Dispute(Base):
    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    debt_id: Mapped[int] = mapped_column(ForeignKey("debts.id"), index=True)
    reason: Mapped[DisputeReason] = mapped_column(string_enum(DisputeReason, 16))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[DisputeStatus] = mapped_column(string_enum(DisputeStatus, 16))
    channel: Mapped[Channel | None] = mapped_column(string_enum(Channel, 16))
    resolution_note: Mapped[str | None] = mapped_column(String(500))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
