"""Who owns a conversation, and the moves between owners: bot → queue → agent → bot or closed.

A conversation (one channel contact) belongs to the bot unless it has an open handoff
(queued or assigned). Escalations open one, at most one per contact (a partial unique index
makes two concurrent escalations end with one row); staff take it from the queue or take over
any conversation on their own initiative, and hand it back to the bot or close it. Taking,
handing back and closing are conditional UPDATEs: when two staff members act on the same
handoff at once, one wins and the other gets a `Conflict`.

Every move is written to the interaction log (`handoff.queued`, `handoff.assigned`,
`handoff.handed_back`, `handoff.closed`) with its reason or staff member. Handing back touches
nothing on the contact: its language and verification stay as they were (verification's idle
timeout still applies), and its next message reaches Rasa again.

These functions flush and never commit: the caller commits them with the change that caused
them (a dispute, a verification lock, a planner batch, a staff action and its audit entry).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.db import utcnow
from backend.debtors.models import Debtor
from backend.enums import Actor, Channel, Language
from backend.exceptions import Conflict
from backend.handoffs.models import Handoff, HandoffStatus
from backend.interactions.models import Interaction
from backend.interactions.service import read_text, record
from backend.observability.metrics import ESCALATIONS
from backend.staff.models import StaffMember

log = logging.getLogger(__name__)

OPEN = (HandoffStatus.QUEUED, HandoffStatus.ASSIGNED)
QUEUED = "handoff.queued"
ASSIGNED = "handoff.assigned"
HANDED_BACK = "handoff.handed_back"
CLOSED = "handoff.closed"
# Why a conversation needs a person. `staff`: a staff member took it over unasked.
REASONS = frozenset(
    {
        "request_human",
        "dispute",
        "hardship",
        "vulnerability",
        "legal_threat",
        "abusive_language",
        "repeated_fallback",
        "verification_locked",
        "verification_ambiguous",
        "plan_beyond_policy",
        "cadence_final_level",
        "assistant_error",
        "staff",
    }
)
STAFF_INITIATIVE = "staff"
PREVIEW_CHARS = 120
# The debtor's messages, as the gateway logs them (backend/gateway/inbound.py).
_RECEIVED = "message.received"


# One row of the staff queue: what an agent needs to choose what to take next.
@dataclass(frozen=True)
class QueueItem:
    handoff_id: int
    status: HandoffStatus
    reason: str
    priority: int  # expected recovery, minor units of the debtor's currency
    queued_at: datetime
    waiting_seconds: int  # since queued, at the `now` of the call
    taken_by_staff: bool
    assigned_staff_id: int | None
    assigned_staff_name: str | None
    contact_id: int
    channel: Channel
    language: Language | None
    debtor_id: int | None
    debtor_name: str | None  # None while the contact is not bound to a debtor
    debt_id: int | None
    last_message_preview: str | None  # the debtor's latest message, cut short
    last_message_at: datetime | None


def owner_of(db_session: Session, contact: ChannelContact) -> Handoff | None:
    """The contact's open handoff (queued or assigned), or None: the bot owns it."""
    query = select(Handoff).where(Handoff.contact_id == contact.id, Handoff.status.in_(OPEN))
    return db_session.scalars(query).one_or_none()


def escalate(
    db_session: Session,
    *,
    contact: ChannelContact,
    reason: str,
    now: datetime,
    debt_id: int | None = None,
) -> Handoff:
    """Queue the conversation for staff; while one is open, that one is returned unchanged."""
    if reason not in REASONS:
        raise ValueError(f"unknown handoff reason {reason!r}")
    existing = owner_of(db_session, contact)
    if existing is not None:
        return existing
    handoff = Handoff(
        contact_id=contact.id,
        debtor_id=contact.debtor_id,
        debt_id=debt_id,
        reason=reason,
        status=HandoffStatus.QUEUED,
        priority=_priority(db_session, contact),
        taken_by_staff=False,
        queued_at=now,
    )
    created = _insert_open(db_session, handoff)
    if created is not handoff:  # a concurrent escalation opened it first
        return created
    record(
        db_session=db_session,
        event=QUEUED,
        actor=Actor.SYSTEM,
        contact=contact,
        debt_id=debt_id,
        data={"handoff_id": handoff.id, "reason": reason},
    )
    db_session.flush()
    ESCALATIONS.labels(reason=reason).inc()
    log.info("handoff %s queued for contact %s: %s", handoff.id, contact.id, reason)
    return handoff


def take_over(
    db_session: Session, *, contact: ChannelContact, staff: StaffMember, now: datetime
) -> Handoff:
    """A staff member takes the conversation on their own initiative: assigned to them at once.

    One already queued is assigned to them; one assigned to someone else is a `Conflict`.
    """
    existing = owner_of(db_session, contact)
    if existing is None:
        handoff = Handoff(
            contact_id=contact.id,
            debtor_id=contact.debtor_id,
            reason=STAFF_INITIATIVE,
            status=HandoffStatus.ASSIGNED,
            priority=_priority(db_session, contact),
            taken_by_staff=True,
            queued_at=now,
            assigned_staff_id=staff.id,
            assigned_at=now,
        )
        created = _insert_open(db_session, handoff)
        if created is handoff:
            _record_transition(
                db_session, handoff, ASSIGNED, staff, {"reason": STAFF_INITIATIVE}, contact
            )
            db_session.flush()
            ESCALATIONS.labels(reason=STAFF_INITIATIVE).inc()
            return handoff
        existing = created
    return assign(db_session, handoff=existing, staff=staff, now=now)


def assign(db_session: Session, *, handoff: Handoff, staff: StaffMember, now: datetime) -> Handoff:
    """Staff take a queued handoff; a second taker gets a `Conflict` (the same one: a no-op)."""
    taken = db_session.execute(
        update(Handoff)
        .where(Handoff.id == handoff.id, Handoff.status == HandoffStatus.QUEUED)
        .values(status=HandoffStatus.ASSIGNED, assigned_staff_id=staff.id, assigned_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db_session.refresh(handoff)
    if not taken:
        if handoff.status is HandoffStatus.ASSIGNED and handoff.assigned_staff_id == staff.id:
            return handoff
        raise _not_open(handoff)
    _record_transition(db_session, handoff, ASSIGNED, staff, {"reason": handoff.reason})
    db_session.flush()
    return handoff


def hand_back(db_session: Session, *, handoff: Handoff, staff: StaffMember, now: datetime) -> None:
    """The bot owns the conversation again, with its language and verification as they are."""
    _end(db_session, handoff, HandoffStatus.HANDED_BACK, HANDED_BACK, staff, now)


def close(db_session: Session, *, handoff: Handoff, staff: StaffMember, now: datetime) -> None:
    """The episode is over; the bot answers the contact's next message."""
    _end(db_session, handoff, HandoffStatus.CLOSED, CLOSED, staff, now)


def note_staff_reply(
    db_session: Session, *, handoff: Handoff, staff: StaffMember, now: datetime
) -> None:
    """A staff member wrote to the debtor: the first time sets `first_response_at`."""
    db_session.execute(
        update(Handoff)
        .where(Handoff.id == handoff.id, Handoff.first_response_at.is_(None))
        .values(first_response_at=now)
        .execution_options(synchronize_session=False)
    )
    db_session.refresh(handoff)


def mark_debtor_told(db_session: Session, *, handoff: Handoff, now: datetime) -> bool:
    """Whether this call is the one that tells the debtor (once per handoff, even at once).

    Not once a person has answered: "someone will answer you" would then be wrong.
    """
    told = db_session.execute(
        update(Handoff)
        .where(
            Handoff.id == handoff.id,
            Handoff.debtor_told_at.is_(None),
            Handoff.first_response_at.is_(None),
        )
        .values(debtor_told_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db_session.refresh(handoff)
    return bool(told)


def queue(db_session: Session, *, limit: int = 100, now: datetime | None = None) -> list[QueueItem]:
    """Open handoffs, highest priority first, then the longest waiting."""
    now = now or utcnow()
    query = (
        select(Handoff, ChannelContact, Debtor, StaffMember.display_name)
        .join(ChannelContact, ChannelContact.id == Handoff.contact_id)
        .outerjoin(Debtor, Debtor.id == Handoff.debtor_id)
        .outerjoin(StaffMember, StaffMember.id == Handoff.assigned_staff_id)
        .where(Handoff.status.in_(OPEN))
        .order_by(Handoff.priority.desc(), Handoff.queued_at, Handoff.id)
        .limit(limit)
    )
    rows = db_session.execute(query).all()
    latest = _latest_messages(db_session, [contact.id for _, contact, _, _ in rows])
    cache: dict = {}
    items = []
    for handoff, contact, debtor, staff_name in rows:
        message = latest.get(contact.id)
        preview = None
        if message is not None:
            text = read_text(db_session=db_session, interaction=message, cache=cache) or ""
            preview = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
        items.append(
            QueueItem(
                handoff_id=handoff.id,
                status=handoff.status,
                reason=handoff.reason,
                priority=handoff.priority,
                queued_at=handoff.queued_at,
                waiting_seconds=max(int((now - handoff.queued_at).total_seconds()), 0),
                taken_by_staff=handoff.taken_by_staff,
                assigned_staff_id=handoff.assigned_staff_id,
                assigned_staff_name=staff_name,
                contact_id=contact.id,
                channel=contact.channel,
                language=contact.language or (debtor.preferred_language if debtor else None),
                debtor_id=debtor.id if debtor else None,
                debtor_name=debtor.full_name if debtor else None,
                debt_id=handoff.debt_id,
                last_message_preview=preview,
                last_message_at=message.occurred_at if message is not None else None,
            )
        )
    return items


def latest_contact(db_session: Session, debtor_id: int) -> ChannelContact | None:
    """The debtor's conversation to hand to staff: the one they wrote in last, else the newest."""
    query = (
        select(ChannelContact)
        .where(ChannelContact.debtor_id == debtor_id)
        .order_by(ChannelContact.last_inbound_at.desc().nulls_last(), ChannelContact.id.desc())
        .limit(1)
    )
    return db_session.scalars(query).first()


def _latest_messages(db_session: Session, contact_ids: list[int]) -> dict[int, Interaction]:
    if not contact_ids:
        return {}
    latest_ids = (
        select(func.max(Interaction.id))
        .where(Interaction.contact_id.in_(contact_ids), Interaction.event == _RECEIVED)
        .group_by(Interaction.contact_id)
    )
    found = db_session.scalars(select(Interaction).where(Interaction.id.in_(latest_ids)))
    return {interaction.contact_id: interaction for interaction in found}


def _priority(db_session: Session, contact: ChannelContact) -> int:
    if contact.debtor_id is None:
        return 0
    query = select(Debtor.recovery_priority_minor).where(Debtor.id == contact.debtor_id)
    return db_session.scalar(query) or 0


def _insert_open(db_session: Session, handoff: Handoff) -> Handoff:
    """Insert an open handoff; if another opened one for the contact meanwhile, that one."""
    try:
        with db_session.begin_nested():
            db_session.add(handoff)
    except IntegrityError:
        query = select(Handoff).where(
            Handoff.contact_id == handoff.contact_id, Handoff.status.in_(OPEN)
        )
        existing = db_session.scalars(query).one_or_none()
        if existing is None:  # the other one already ended: not a race this call can settle
            raise
        return existing
    return handoff


def _end(
    db_session: Session,
    handoff: Handoff,
    status: HandoffStatus,
    event: str,
    staff: StaffMember,
    now: datetime,
) -> None:
    ended = db_session.execute(
        update(Handoff)
        .where(Handoff.id == handoff.id, Handoff.status.in_(OPEN))
        .values(status=status, ended_at=now, ended_by_staff_id=staff.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    db_session.refresh(handoff)
    if not ended:
        raise _not_open(handoff)
    _record_transition(db_session, handoff, event, staff, {"reason": handoff.reason})
    db_session.flush()


def _record_transition(
    db_session: Session,
    handoff: Handoff,
    event: str,
    staff: StaffMember,
    data: dict,
    contact: ChannelContact | None = None,
) -> None:
    contact = contact or db_session.get(ChannelContact, handoff.contact_id)
    log.info("%s: handoff %s by staff %s", event, handoff.id, staff.id)
    record(
        db_session=db_session,
        event=event,
        actor=Actor.AGENT,
        actor_ref=str(staff.id),
        contact=contact,
        debt_id=handoff.debt_id,
        data={"handoff_id": handoff.id, "staff_id": staff.id, **data},
    )


def _not_open(handoff: Handoff) -> Conflict:
    if handoff.status is HandoffStatus.ASSIGNED:
        return Conflict(
            "another staff member already took this conversation",
            reason_code="handoff_taken",
            assigned_staff_id=handoff.assigned_staff_id,
        )
    return Conflict("this handoff has already ended", reason_code="handoff_ended")
