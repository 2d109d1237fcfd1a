"""The interaction log: every message in and out and every state change, append-only.

Rows are never updated or deleted: the migration installs database triggers that refuse it,
and the ORM refuses it before the database is asked. Message texts are personal data, so they
are stored sealed with their owner's key (`backend/privacy`): write them with
`service.record(text=...)` and read them with `service.read_text`, which says "[erased]" once
the person's key is destroyed.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import Actor, Channel, string_enum


class Direction(str, enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"  # a state change, not a message


class Interaction(Base):
    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtors.id"), index=True)
    debt_id: Mapped[int | None] = mapped_column(ForeignKey("debts.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("channel_contacts.id"), index=True)
    channel: Mapped[Channel | None] = mapped_column(string_enum(Channel, 16))
    direction: Mapped[Direction] = mapped_column(string_enum(Direction, 16))
    actor: Mapped[Actor] = mapped_column(string_enum(Actor, 16))
    actor_ref: Mapped[str | None] = mapped_column(String(64))  # which agent or service
    event: Mapped[str] = mapped_column(String(64), index=True)  # e.g. "plan.accepted"
    # The column is "text"; the attribute says it holds ciphertext, never the text itself.
    sealed_text: Mapped[str | None] = mapped_column("text", Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AppendOnlyViolation(RuntimeError):
    """Somebody tried to change or delete a logged interaction."""


@event.listens_for(Interaction, "before_update")
@event.listens_for(Interaction, "before_delete")
def _refuse_changes(_mapper, _connection, target: Interaction) -> None:
    raise AppendOnlyViolation(f"interaction {target.id} is append-only")
