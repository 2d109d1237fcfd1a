"""A handoff: one episode of a conversation in the hands of staff, from queue to its end.

The conversation's owner is its open handoff (queued, or assigned to an agent); with none
open, the bot owns it. At most one handoff per contact is open at a time.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import string_enum


class HandoffStatus(str, enum.Enum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    HANDED_BACK = "handed_back"  # the bot owns the conversation again
    CLOSED = "closed"


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (
        Index(
            "uq_handoffs_one_open_per_contact",
            "contact_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'assigned')"),
            postgresql_where=text("status IN ('queued', 'assigned')"),
        ),
        Index("ix_handoffs_status_priority", "status", "priority"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("channel_contacts.id"), index=True)
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtors.id"), index=True)
    debt_id: Mapped[int | None] = mapped_column(ForeignKey("debts.id"))
    # request_human, dispute, hardship, vulnerability, legal_threat, abusive_language,
    # repeated_fallback, verification_locked, plan_beyond_policy, cadence_final_level, staff
    reason: Mapped[str] = mapped_column(String(48))
    status: Mapped[HandoffStatus] = mapped_column(string_enum(HandoffStatus, 16))
    priority: Mapped[int] = mapped_column(BigInteger, default=0)  # expected recovery, minor units
    # Taken over by a staff member on their own initiative, not asked for by the conversation.
    taken_by_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the debtor was told a person will answer (once per handoff).
    debtor_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
