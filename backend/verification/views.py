"""Routes of identity verification: the attempt, the e-mailed code, and staff lifting a lock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from fastapi.responses import JSONResponse

from backend.db import SessionDep
from backend.debtors import service as debtors
from backend.debtors.schemas import DebtorSummary
from backend.deps import MAX_ROW_ID, ContactDep, Now, SettingsDep
from backend.outbound.email import OutgoingEmail, send_in_background
from backend.verification import service as verification
from backend.verification.models import (
    CodeSent,
    CodeSubmission,
    LockLift,
    VerificationAttempt,
    VerificationStatus,
)

router = APIRouter(tags=["verification"])
CONTACT = "/contacts/{channel}/{external_id}"
DebtorIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def email_sender(settings: SettingsDep) -> verification.Deliver:
    def deliver(email: OutgoingEmail) -> None:
        send_in_background(settings=settings, email=email)

    return deliver


DeliverDep = Annotated[verification.Deliver, Depends(email_sender)]


@router.post(
    f"{CONTACT}/verification",
    response_model=DebtorSummary,
    responses={status.HTTP_202_ACCEPTED: {"model": CodeSent}},
)
def verify(
    attempt: VerificationAttempt,
    contact: ContactDep,
    db_session: SessionDep,
    settings: SettingsDep,
    now: Now,
    deliver: DeliverDep,
) -> DebtorSummary | JSONResponse:
    """Document suffix + birth date: the summary (200), or 202 when an e-mailed code is needed."""
    outcome = verification.verify(
        db_session=db_session,
        contact=contact,
        attempt=attempt,
        settings=settings,
        now=now,
        deliver=deliver,
    )
    if isinstance(outcome, CodeSent):
        return JSONResponse(status_code=202, content=outcome.model_dump(mode="json"))
    return debtors.summary(db_session=db_session, debtor=outcome, now=now)


@router.post(f"{CONTACT}/verification/code", response_model=DebtorSummary)
def verify_code(
    submission: CodeSubmission,
    contact: ContactDep,
    db_session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> DebtorSummary:
    debtor = verification.verify_code(
        db_session=db_session, contact=contact, code=submission.code, settings=settings, now=now
    )
    return debtors.summary(db_session=db_session, debtor=debtor, now=now)


@router.get("/debtors/{debtor_id}/verification", response_model=VerificationStatus)
def verification_status(debtor_id: DebtorIdPath, db_session: SessionDep, now: Now):
    """For staff: whether knowledge-only verification is locked for this debtor."""
    return verification.status(db_session=db_session, debtor_id=debtor_id, now=now)


@router.post("/debtors/{debtor_id}/verification/unlock", response_model=VerificationStatus)
def lift_lock(debtor_id: DebtorIdPath, lift: LockLift, db_session: SessionDep, now: Now):
    """For staff: lift the lock on knowledge-only verification; logged with who lifted it."""
    return verification.lift_lock(db_session=db_session, debtor_id=debtor_id, lift=lift, now=now)
