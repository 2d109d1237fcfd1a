"""Debtors: the people who owe, with what is needed to verify and to reach them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, UTCDateTime, utcnow
from backend.enums import Language, string_enum

if TYPE_CHECKING:
    from backend.contacts.models import ChannelContact
    from backend.debts.models import Debt


class Debtor(Base):
    __tablename__ = "debtors"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    document_kind: Mapped[str] = mapped_column(String(16))  # CPF, DNI, CF, SSN...
    # Normalised (letters and digits only, upper case). Kept for verification; never
    # returned whole by the API, see `masked_document`.
    document_number: Mapped[str] = mapped_column(String(32), index=True)
    birth_date: Mapped[date] = mapped_column(Date, index=True)  # failures count per birth date
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    preferred_language: Mapped[Language] = mapped_column(string_enum(Language, 8))
    risk_segment: Mapped[str] = mapped_column(String(32))
    # From the nightly scorecard (backend/segments/): its points, the likelihood of paying, and
    # the expected recovery (open balance × likelihood) that orders campaigns and the queue.
    risk_score: Mapped[int | None] = mapped_column(Integer)
    pay_likelihood: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    recovery_priority_minor: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0", index=True
    )
    segment_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # E-mail is send-only, so its opt-out lives here (the unsubscribe link of each e-mail).
    email_opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Failed verifications that could have been this person's (their birth date was given),
    # from every contact, since their last verification; see backend/verification/.
    failed_verifications: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_verification_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Until then, document suffix + birth date alone verify nobody as this person: a channel
    # on file or the e-mailed code is needed too. Staff can lift it earlier.
    verification_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by an erasure (backend/privacy/erasure.py): the personal columns above then hold
    # placeholders, and only the record of the debts is kept.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditors.id"), index=True)
    debts: Mapped[list[Debt]] = relationship(back_populates="debtor", order_by="Debt.due_date")
    contacts: Mapped[list[ChannelContact]] = relationship(back_populates="debtor")

    @property
    def masked_document(self) -> str:
        """The document with all but its last four characters hidden: •••••••8901."""
        visible = self.document_number[-4:]
        return "•" * max(len(self.document_number) - len(visible), 0) + visible


def normalize_document(document: str) -> str:
    return "".join(ch for ch in document.upper() if ch.isalnum())
