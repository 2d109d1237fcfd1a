"""Inbound channel updates already seen, so that a redelivered webhook is handled once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import Channel, string_enum


class InboundUpdate(Base):
    __tablename__ = "inbound_updates"
    __table_args__ = (UniqueConstraint("channel", "update_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(string_enum(Channel, 16))
    # Telegram's update_id, WhatsApp's message id (wamid...), as text.
    update_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsedLinkToken(Base):
    """A deep-link token already redeemed: each token binds one chat, once."""

    __tablename__ = "used_link_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The token's signature (base64url), which identifies it without storing the token.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # rows past it may be pruned
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
