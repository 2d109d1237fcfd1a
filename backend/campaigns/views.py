"""Staff routes: cadence policies (read, replace, delete) and a preview of the next campaign."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from backend.campaigns import cadence
from backend.campaigns import preview as previews
from backend.campaigns.models import CadencePolicy
from backend.db import SessionDep
from backend.deps import MAX_ROW_ID, Now
from backend.exceptions import InvalidRequest

router = APIRouter(tags=["campaigns"])

# How far from now a preview may look: the planner counts days around `at`, and the calendar
# ends at years 1 and 9999.
PREVIEW_REACH = timedelta(days=100 * 365)
CreditorPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
SegmentPath = Annotated[str, Path(min_length=1, max_length=32)]


# One level as staff write it; its level number is its place in the list.
class CadenceStepWrite(BaseModel):
    offset_days: int = Field(
        ge=-365, le=3650, description="days after the due date (negative: before)"
    )
    message: str = Field(description=f"one of {', '.join(cadence.MESSAGE_KEYS)}")
    escalate: bool = False


# A whole cadence, replacing the previous one (PUT).
class CadencePolicyWrite(BaseModel):
    steps: list[CadenceStepWrite] = Field(max_length=20)
    channel_order: list[str] = Field(
        max_length=8, description="whatsapp, telegram, webchat, email: tried in this order"
    )


class CadenceStepRead(BaseModel):
    level: int
    offset_days: int
    message: str
    escalate: bool


class CadencePolicyRead(BaseModel):
    creditor_id: int
    risk_segment: str
    channel_order: list[str]
    steps: list[CadenceStepRead]
    updated_at: datetime


def policy_read(policy: CadencePolicy) -> CadencePolicyRead:
    return CadencePolicyRead(
        creditor_id=policy.creditor_id,
        risk_segment=policy.risk_segment,
        channel_order=list(policy.channel_order),
        steps=[
            CadenceStepRead(
                level=step.level,
                offset_days=step.offset_days,
                message=step.message,
                escalate=step.escalate,
            )
            for step in policy.steps
        ],
        updated_at=policy.updated_at,
    )


@router.get("/cadence-policies", response_model=list[CadencePolicyRead])
def list_policies(db_session: SessionDep) -> list[CadencePolicyRead]:
    return [policy_read(policy) for policy in cadence.list_policies(db_session=db_session)]


@router.get("/cadence-policies/{creditor_id}/{risk_segment}", response_model=CadencePolicyRead)
def get_policy(
    creditor_id: CreditorPath, risk_segment: SegmentPath, db_session: SessionDep
) -> CadencePolicyRead:
    return policy_read(
        cadence.get(db_session=db_session, creditor_id=creditor_id, risk_segment=risk_segment)
    )


@router.put(
    "/cadence-policies/{creditor_id}/{risk_segment}",
    response_model=CadencePolicyRead,
    responses={
        201: {"description": "created"},
        422: {"description": "reason codes: offsets_not_increasing, escalation_not_last, …"},
    },
)
def put_policy(
    creditor_id: CreditorPath,
    risk_segment: SegmentPath,
    body: CadencePolicyWrite,
    db_session: SessionDep,
    response: Response,
) -> CadencePolicyRead:
    """Create the cadence, or replace its steps and channel order (validated as a whole)."""
    policy, created = cadence.put(
        db_session=db_session,
        creditor_id=creditor_id,
        risk_segment=risk_segment,
        steps=[cadence.StepSpec(s.offset_days, s.message, s.escalate) for s in body.steps],
        channel_order=body.channel_order,
    )
    db_session.commit()
    db_session.refresh(policy)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return policy_read(policy)


@router.delete(
    "/cadence-policies/{creditor_id}/{risk_segment}", status_code=status.HTTP_204_NO_CONTENT
)
def delete_policy(
    creditor_id: CreditorPath, risk_segment: SegmentPath, db_session: SessionDep
) -> Response:
    cadence.delete(db_session=db_session, creditor_id=creditor_id, risk_segment=risk_segment)
    db_session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/campaigns/preview", response_model=previews.PreviewRead)
def preview_campaign(
    db_session: SessionDep,
    now: Now,
    at: Annotated[
        datetime | None, Query(description="ISO datetime with an offset; default: now")
    ] = None,
) -> previews.PreviewRead:
    """What a campaign run at `at` would send, to whom, where and when, and every suppression.

    Nothing is written: the planning happens inside a transaction that is rolled back.
    """
    if at is not None and at.tzinfo is None:
        raise InvalidRequest("give `at` with a time zone offset", reason_code="naive_datetime")
    if at is not None and abs(at - now) > PREVIEW_REACH:
        raise InvalidRequest("choose `at` within 100 years of now", reason_code="at_out_of_range")
    result = previews.dry_run(db_session=db_session, now=at or now)
    return previews.preview_read(result)
