"""Routes about one sender on one channel: summary, language, opt-out, CSAT.

Verification has its own routes (`backend/verification/views.py`).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel

from backend.contacts import service as contacts
from backend.db import SessionDep
from backend.debtors import service as debtors
from backend.debtors.schemas import DebtorSummary
from backend.deps import ContactDep, Now, SettingsDep, VerifiedDep
from backend.enums import Language
from backend.feedback import service as feedback
from backend.feedback.schemas import CsatCreate
from backend.verification import service as verification

router = APIRouter(prefix="/contacts/{channel}/{external_id}", tags=["contacts"])


# Why the conversation needs a person.
class EscalationCreate(BaseModel):
    reason: Literal[
        "request_human",
        "hardship",
        "dispute",
        "verification_locked",
        "verification_ambiguous",
        "not_understood",
        "repeated_fallback",
        "plan_beyond_policy",
        "assistant_error",
    ]


class LanguageChange(BaseModel):
    language: Language


class ContactRead(BaseModel):
    channel: str
    external_id: str
    known_debtor: bool
    verified: bool
    locked: bool  # verification refused for now after too many failures
    language: Language | None
    opted_out: bool


@router.get("", response_model=ContactRead)
def read_contact(
    contact: ContactDep, db_session: SessionDep, settings: SettingsDep, now: Now
) -> ContactRead:
    """What may be said about a sender before verification: nothing about any debt."""
    return ContactRead(
        channel=contact.channel.value,
        external_id=contact.external_id,
        known_debtor=contact.debtor_id is not None,
        verified=contacts.is_verified(contact=contact, settings=settings, now=now),
        locked=verification.is_locked(db_session=db_session, contact=contact, now=now),
        language=contact.language,
        opted_out=contact.opted_out_at is not None,
    )


@router.get("/summary", response_model=DebtorSummary)
def summary(verified: VerifiedDep, db_session: SessionDep, now: Now) -> DebtorSummary:
    return debtors.summary(db_session=db_session, debtor=verified.debtor, now=now)


@router.put("/language", status_code=status.HTTP_204_NO_CONTENT)
def set_language(change: LanguageChange, contact: ContactDep, db_session: SessionDep) -> None:
    contacts.set_language(db_session=db_session, contact=contact, language=change.language)


@router.post("/opt-out", status_code=status.HTTP_204_NO_CONTENT)
def opt_out(contact: ContactDep, db_session: SessionDep, now: Now) -> None:
    contacts.opt_out(db_session=db_session, contact=contact, now=now)


@router.delete("/opt-out", status_code=status.HTTP_204_NO_CONTENT)
def opt_in(contact: ContactDep, db_session: SessionDep) -> None:
    contacts.opt_in(db_session=db_session, contact=contact)


@router.post("/csat", status_code=status.HTTP_201_CREATED)
def record_csat(csat: CsatCreate, contact: ContactDep, db_session: SessionDep) -> dict:
    score = feedback.record_score(db_session=db_session, contact=contact, csat=csat)
    return {"id": score.id, "score": score.score}


@router.post("/escalations", status_code=status.HTTP_201_CREATED)
def escalate(
    escalation: EscalationCreate,
    contact: ContactDep,
    db_session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> dict:
    """Queue the conversation for staff; `recorded` when settings keep it with the bot."""
    handoff_id = contacts.escalate(
        db_session=db_session,
        contact=contact,
        reason=escalation.reason,
        now=now,
        settings=settings,
    )
    return {
        "status": "escalated" if handoff_id is not None else "recorded",
        "reason": escalation.reason,
        "handoff_id": handoff_id,
    }
