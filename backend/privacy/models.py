"""The keys that seal a person's texts in the interaction log: one per contact or per debtor.

A key belongs to a channel contact when the text came through one (which covers what was
typed before verification: binding the contact to a debtor makes its key one of the debtor's),
and to the debtor otherwise. Keys are stored wrapped by the master key; erasing a debtor
destroys the wrapped key of the debtor and of each of its contacts, which leaves their texts
in the append-only log unreadable without changing the log.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow


class DebtorKey(Base):
    __tablename__ = "debtor_keys"
    __table_args__ = (
        CheckConstraint("(debtor_id IS NULL) <> (contact_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtors.id"), unique=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("channel_contacts.id"), unique=True)
    # AES-256 data key encrypted with the master key; None once destroyed by an erasure.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
