"""Staff route: a debtor's risk segment, score, likelihood, priority and recorded changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from backend.db import SessionDep
from backend.debtors import service as debtors
from backend.deps import Now
from backend.exceptions import NotFound
from backend.segments import service as segments
from backend.segments.schemas import SegmentRead

router = APIRouter(tags=["segments"])


@router.get("/debtors/{external_ref}/segment", response_model=SegmentRead)
def segment(
    external_ref: Annotated[str, Path(min_length=1, max_length=64)],
    db_session: SessionDep,
    now: Now,
) -> SegmentRead:
    debtor = debtors.get_by_external_ref(db_session=db_session, external_ref=external_ref)
    if debtor is None:
        raise NotFound("unknown debtor", reason_code="debtor_not_found")
    return segments.standing(db_session, debtor, now)
