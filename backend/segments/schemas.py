"""Response shapes of the segment routes, for staff tools (reason codes, never prose)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict


# One recorded move between segments, with the scorecard's reasons for it.
class SegmentChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_segment: str
    to_segment: str
    score: int
    pay_likelihood: Decimal
    recovery_priority_minor: int
    reasons: list[dict[str, Any]]
    computed_at: datetime


# A debtor's segment as it stands, and its latest changes (newest first).
class SegmentRead(BaseModel):
    external_ref: str
    risk_segment: str
    # Where the last score points; differs from risk_segment while a move is held (no policy).
    scored_segment: str | None
    risk_score: int | None
    pay_likelihood: Decimal | None
    recovery_priority_minor: int
    # The priority as an amount of the debtor's oldest open debt's currency (None: no open debt).
    recovery_priority: Decimal | None
    currency: str | None
    segment_updated_at: datetime | None
    changes: list[SegmentChangeRead]
