"""Channel contacts: one sender on one channel, bound to a debtor once known.

A contact carries the state that belongs to the conversation channel rather than to the
person: whether this sender proved who they are, how many attempts failed, whether they said
STOP on this channel, and when they last wrote (WhatsApp's 24-hour window).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import Channel, Language, string_enum

if TYPE_CHECKING:
    from backend.debtors.models import Debtor


class ChannelContact(Base):
    __tablename__ = "channel_contacts"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(string_enum(Channel, 16))
    external_id: Mapped[str] = mapped_column(String(128))  # chat id, wa_id, web session id
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtors.id"), index=True)
    language: Mapped[Language | None] = mapped_column(string_enum(Language, 8))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_verifications: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a signed deep link bound this chat to its debtor: possession of the chat is proven.
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    debtor: Mapped[Debtor | None] = relationship(back_populates="contacts")
