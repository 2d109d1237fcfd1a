"""The outbox: every message the assistant sends first, claimed by senders with a lease."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import string_enum


class OutboundChannel(str, enum.Enum):
    """Where a message can be sent first: the conversation channels, and e-mail (send only)."""

    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    WEBCHAT = "webchat"
    EMAIL = "email"


class MessageKind(str, enum.Enum):
    REMINDER = "reminder"  # a cadence level
    PROMISE_DUE = "promise_due"  # the day before a promised date
    INSTALLMENT_DUE = "installment_due"  # the day before an installment
    PROMISE_BROKEN = "promise_broken"
    INSTALLMENT_LATE = "installment_late"
    PLAN_BROKEN = "plan_broken"
    PAYMENT_THANKS = "payment_thanks"


class OutboxStatus(str, enum.Enum):
    PENDING = "pending"  # waiting for `not_before`, or for a sender
    SENDING = "sending"  # a sender holds the lease and is sending
    SENT = "sent"
    SUPPRESSED = "suppressed"  # the compliance gate said no, for `suppression_reason`
    FAILED = "failed"  # every allowed channel failed permanently
    IN_DOUBT = "in_doubt"  # a sender died mid-send: maybe delivered, never repeated


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_status_not_before", "status", "not_before"),
        Index("ix_outbox_messages_debtor_id_sent_at", "debtor_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One row per (debt, level, scheduled date) and the like: planning twice adds nothing.
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[MessageKind] = mapped_column(string_enum(MessageKind, 24))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"))
    debt_id: Mapped[int | None] = mapped_column(ForeignKey("debts.id"), index=True)
    level: Mapped[int | None] = mapped_column(Integer)
    scheduled_for: Mapped[date] = mapped_column(Date)  # the debtor's local day it is due
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    # Expected recovery (minor units) at planning: higher goes first.
    priority: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the message refers to (installment_id, promise_id, payment_id…), not its text.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(string_enum(OutboxStatus, 16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[OutboundChannel | None] = mapped_column(string_enum(OutboundChannel, 16))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("channel_contacts.id"))
    suppression_reason: Mapped[str | None] = mapped_column(String(48))
    last_error: Mapped[str | None] = mapped_column(String(300))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryOutcome(str, enum.Enum):
    SENT = "sent"
    DEFERRED = "deferred"  # outside the window, over a cap: tried again later
    SUPPRESSED = "suppressed"
    TRANSIENT_ERROR = "transient_error"  # retried with backoff
    PERMANENT_ERROR = "permanent_error"  # the next allowed channel is tried
    IN_DOUBT = "in_doubt"  # maybe delivered (no answer, or the sender died): never resent
    SKIPPED_CHANNEL = "skipped_channel"  # not allowed on this channel (opt-out, no contact…)


class DeliveryAttempt(Base):
    """Each decision and attempt on an outbox message: why it went, waited or did not."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    channel: Mapped[OutboundChannel | None] = mapped_column(string_enum(OutboundChannel, 16))
    outcome: Mapped[DeliveryOutcome] = mapped_column(string_enum(DeliveryOutcome, 24))
    reason: Mapped[str | None] = mapped_column(String(48))
    detail: Mapped[str | None] = mapped_column(String(300))
