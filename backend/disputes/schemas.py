"""Request and response shapes for disputes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from backend.disputes.models import DisputeReason, DisputeStatus


# A debtor contests a debt.
class DisputeCreate(BaseModel):
    reason: DisputeReason
    description: str | None = Field(None, max_length=2000)


class DisputeRead(BaseModel):
    id: int
    debt_reference: str
    reason: DisputeReason
    status: DisputeStatus
    opened_at: datetime
