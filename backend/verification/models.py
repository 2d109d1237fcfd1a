"""Verification guards: failed attempts kept for counting, and the one-time codes sent by e-mail.

Neither table keeps anything an attacker could use: a client address is stored only as a keyed
hash, and a code only as a keyed hash of the contact and the code.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field, IPvAnyAddress
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow


class VerificationFailure(Base):
    """One attempt that counted as failed: what the per-address and global counts read."""

    __tablename__ = "verification_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("channel_contacts.id"), index=True)
    # HMAC-SHA256 of the client's address (an IPv6 address by its /64), hex; None when the
    # channel gave no address (Telegram, WhatsApp).
    address_hash: Mapped[str | None] = mapped_column(String(64), index=True)


class VerificationCode(Base):
    """A one-time code e-mailed to a debtor, good for one contact, once, for a few minutes."""

    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("channel_contacts.id"), index=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 of contact id and code
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# What a sender types to prove who they are, with the address the web chat saw them at.
class VerificationAttempt(BaseModel):
    document_suffix: str = Field(min_length=1, max_length=16, examples=["8901"])
    birth_date: dt.date
    client_address: IPvAnyAddress | None = Field(
        None,
        description="the web chat visitor's IP address, forwarded by the gateway; only a keyed "
        "hash of it is stored",
    )


# The 202 answer when the details matched and the e-mailed code is still needed.
class CodeSent(BaseModel):
    second_factor: str = "code_sent"
    destination: str = Field(examples=["a•••@e•••.com"])
    expires_at: dt.datetime


# The code a sender read in their mailbox.
class CodeSubmission(BaseModel):
    code: str = Field(pattern=r"^\s*\d{6}\s*$", examples=["123456"])


# Staff lifting a debtor's lock on knowledge-only verification: who, and why.
class LockLift(BaseModel):
    lifted_by: str = Field(min_length=1, max_length=64, examples=["agent:maria"])
    reason: str = Field("", max_length=500)


# Where a debtor stands with verification, for staff.
class VerificationStatus(BaseModel):
    debtor_id: int
    locked: bool
    locked_until: dt.datetime | None
    failed_verifications: int
