"""Recording CSAT scores."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.enums import Actor
from backend.feedback.models import CsatScore
from backend.feedback.schemas import CsatCreate
from backend.interactions.service import record


def record_score(*, db_session: Session, contact: ChannelContact, csat: CsatCreate) -> CsatScore:
    score = CsatScore(
        debtor_id=contact.debtor_id,
        contact_id=contact.id,
        channel=contact.channel,
        score=csat.score,
        comment=csat.comment,
    )
    db_session.add(score)
    db_session.flush()
    record(
        db_session=db_session,
        event="csat.recorded",
        actor=Actor.DEBTOR,
        contact=contact,
        data={"csat_id": score.id, "score": csat.score},
    )
    db_session.commit()
    return score
