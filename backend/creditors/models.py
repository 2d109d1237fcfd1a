"""Creditors: whose debts these are, named in every conversation about a debt."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import VerificationMode, string_enum


class Creditor(Base):
    __tablename__ = "creditors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    legal_name: Mapped[str] = mapped_column(String(200))
    legal_id_kind: Mapped[str] = mapped_column(String(16))  # CNPJ, NIF, P.IVA, EIN...
    legal_id: Mapped[str] = mapped_column(String(32), unique=True)
    address: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2))
    support_phone: Mapped[str] = mapped_column(String(32))
    support_email: Mapped[str] = mapped_column(String(200))
    support_url: Mapped[str | None] = mapped_column(String(300))
    payment_url_template: Mapped[str | None] = mapped_column(
        String(300), doc="Payment page for a debt; {reference} is replaced by its reference"
    )
    # Whether web-chat (and other unbound) contacts also need the e-mailed code; see README.
    verification_mode: Mapped[VerificationMode] = mapped_column(
        string_enum(VerificationMode, 24),
        default=VerificationMode.KNOWLEDGE_AND_CODE,
        server_default=VerificationMode.KNOWLEDGE_AND_CODE.value,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# What debtors are shown about the creditor in messages.
class CreditorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    legal_name: str
    legal_id_kind: str
    legal_id: str
    address: str
    country: str
    support_phone: str
    support_email: str
    support_url: str | None
