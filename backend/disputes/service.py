"""Disputes: opening one pauses collection and escalates to staff; resolving resumes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.debts import service as debts
from backend.debts.models import Debt, DebtStatus
from backend.disputes.models import Dispute, DisputeStatus
from backend.disputes.schemas import DisputeCreate
from backend.enums import Actor, Channel
from backend.exceptions import Conflict
from backend.handoffs import service as handoffs
from backend.interactions.service import record
from backend.promises.models import PromiseStatus


def open_dispute(
    *,
    db_session: Session,
    debt: Debt,
    dispute: DisputeCreate,
    channel: Channel | None,
    now: datetime,
    contact: ChannelContact | None = None,
) -> Dispute:
    """Open a dispute and queue the conversation for staff (`contact`, else the debtor's latest)."""
    debts.lock_for_update(db_session=db_session, debt=debt)
    debts.refuse_if_closed(debt)
    if debt.status is DebtStatus.DISPUTED:
        raise Conflict("the debt is already disputed", reason_code="dispute_already_open")
    created = Dispute(
        debt_id=debt.id,
        reason=dispute.reason,
        description=dispute.description,
        status=DisputeStatus.OPEN,
        channel=channel,
    )
    db_session.add(created)
    debt.status_before_dispute = debt.status
    debt.status = DebtStatus.DISPUTED
    promise = debts.active_promise(db_session=db_session, debt=debt)
    if promise is not None:
        promise.status = PromiseStatus.CANCELLED
        promise.resolved_at = now
    db_session.flush()
    for event in ("dispute.opened", "escalation.requested"):
        record(
            db_session=db_session,
            event=event,
            actor=Actor.DEBTOR,
            debtor_id=debt.debtor_id,
            debt_id=debt.id,
            channel=channel,
            data={"dispute_id": created.id, "reason": dispute.reason.value},
        )
    conversation = contact or handoffs.latest_contact(db_session, debt.debtor_id)
    if conversation is not None:
        handoffs.escalate(
            db_session, contact=conversation, reason="dispute", now=now, debt_id=debt.id
        )
    db_session.commit()
    return created


def resolve(
    *,
    db_session: Session,
    dispute: Dispute,
    upheld: bool,
    note: str,
    agent_ref: str,
    now: datetime,
) -> Dispute:
    """Staff close a dispute. Upheld: the debt is written off. Rejected: collection resumes."""
    if dispute.status is not DisputeStatus.OPEN:
        raise Conflict("the dispute is already resolved", reason_code="dispute_resolved")
    debt = db_session.get(Debt, dispute.debt_id)
    debts.lock_for_update(db_session=db_session, debt=debt)
    dispute.status = DisputeStatus.UPHELD if upheld else DisputeStatus.REJECTED
    dispute.resolution_note = note
    dispute.resolved_at = now
    if upheld:
        debt.status = DebtStatus.WRITTEN_OFF
    else:
        debt.status = debt.status_before_dispute or DebtStatus.OVERDUE
    debt.status_before_dispute = None
    record(
        db_session=db_session,
        event=f"dispute.{dispute.status.value}",
        actor=Actor.AGENT,
        actor_ref=agent_ref,
        debtor_id=debt.debtor_id,
        debt_id=debt.id,
        data={"dispute_id": dispute.id},
    )
    db_session.commit()
    return dispute


def open_for_debt(*, db_session: Session, debt: Debt) -> Dispute | None:
    query = select(Dispute).where(Dispute.debt_id == debt.id, Dispute.status == DisputeStatus.OPEN)
    return db_session.scalars(query).one_or_none()
