"""What the conversation view shows: the transcript and the debtor panel, read for staff.

The transcript is every message of the conversation (the debtor's, the bot's, staff's and each
reminder the assistant sent, with their times and who wrote them), the e-mails sent to the
debtor, and the conversation's changes of hands as notes. Texts are read through
`read_text` (sealed per person). The panel gathers the debtor's debts with their ledger, plans,
promises, disputes, payments and claims, their contacts and opt-outs, their segment with its
reasons and their verification state. Documents are only ever shown masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.debts.models import Debt
from backend.disputes.models import Dispute
from backend.enums import Actor
from backend.gateway.inbound import RECEIVED, SENT, UNAVAILABLE
from backend.handoffs import service as handoffs
from backend.handoffs.models import Handoff
from backend.interactions.models import Interaction
from backend.interactions.service import read_text
from backend.ledger import service as ledger
from backend.money import to_decimal
from backend.payments.models import Payment, PaymentClaim
from backend.plans.models import PaymentPlan
from backend.promises.models import PromiseToPay
from backend.segments import service as segments
from backend.staff.models import StaffMember
from backend.verification import guards
from locales import format_money

MESSAGES = (RECEIVED, SENT, UNAVAILABLE)
# Changes of hands shown between the messages.
NOTES = ("handoff.queued", "handoff.assigned", "handoff.handed_back", "handoff.closed")
# Staff actions shown between the messages (taking, handing back and replying show already).
STAFF_NOTES = {
    "staff.plan.created": "agreed a plan",
    "staff.plan.exception_approved": "approved a plan outside the policy",
    "staff.promise.recorded": "recorded a promise to pay",
    "staff.dispute.upheld": "upheld a dispute",
    "staff.dispute.rejected": "rejected a dispute",
    "staff.payment_claim.confirmed": "confirmed a payment",
    "staff.payment_claim.rejected": "rejected a payment claim",
    "staff.verification.lock_lifted": "lifted the verification lock",
    "staff.message.not_delivered": "could not deliver a message",
}
TRANSCRIPT_LIMIT = 500


@dataclass(frozen=True)
class TranscriptEntry:
    id: int
    at: datetime
    actor: str  # debtor, bot, agent, system
    who: str
    text: str | None
    kind: str | None  # reminder, broken_promise, staff… for messages the assistant started
    channel: str | None
    note: bool = False  # a change of hands, not a message


def money(minor: int | None, currency: str) -> str:
    if minor is None:
        return "—"
    return format_money(to_decimal(minor, currency), currency, "en")


def transcript(
    db_session: Session, contact: ChannelContact, *, after: int = 0, limit: int = TRANSCRIPT_LIMIT
) -> list[TranscriptEntry]:
    """The conversation's messages and notes after the entry `after`, oldest first."""
    mine = Interaction.contact_id == contact.id
    if contact.debtor_id is not None:
        # E-mails to the debtor have no contact: they are logged for the debtor.
        mine = or_(
            mine,
            and_(
                Interaction.contact_id.is_(None),
                Interaction.debtor_id == contact.debtor_id,
                Interaction.event == SENT,
            ),
        )
    query = (
        select(Interaction)
        .where(
            mine,
            Interaction.event.in_(MESSAGES + NOTES + tuple(STAFF_NOTES)),
            Interaction.id > after,
        )
        .order_by(Interaction.id.desc())
        .limit(limit)
    )
    rows = list(reversed(db_session.scalars(query).all()))
    names = _staff_names(db_session, rows)
    first_name = _first_name(contact.debtor)
    cache: dict = {}
    entries = []
    for row in rows:
        data = row.data or {}
        note = row.event in NOTES or row.event in STAFF_NOTES
        entries.append(
            TranscriptEntry(
                id=row.id,
                at=row.occurred_at,
                actor=row.actor.value,
                who=_who(row, data, names, first_name),
                text=_note_text(row, data, names)
                if note
                else read_text(db_session=db_session, interaction=row, cache=cache),
                kind=data.get("kind"),
                channel=row.channel.value if row.channel else data.get("channel"),
                note=note,
            )
        )
    return entries


def _staff_names(db_session: Session, rows: list[Interaction]) -> dict[str, str]:
    ids = {
        int(r.actor_ref) for r in rows if r.actor is Actor.AGENT and (r.actor_ref or "").isdigit()
    }
    ids |= {int(r.data["staff_id"]) for r in rows if (r.data or {}).get("staff_id")}
    if not ids:
        return {}
    found = db_session.execute(
        select(StaffMember.id, StaffMember.display_name).where(StaffMember.id.in_(ids))
    )
    return {str(staff_id): name for staff_id, name in found}


def _first_name(debtor: Debtor | None) -> str:
    if debtor is None or debtor.erased_at is not None:
        return "Debtor"
    return debtor.full_name.split()[0] if debtor.full_name.strip() else "Debtor"


def _who(row: Interaction, data: dict[str, Any], names: dict[str, str], debtor: str) -> str:
    if row.actor is Actor.DEBTOR:
        return debtor
    if row.actor is Actor.BOT:
        return "Assistant"
    if row.actor is Actor.AGENT:
        return names.get(row.actor_ref or "", f"Staff #{row.actor_ref}")
    kind = data.get("kind")
    if row.event == UNAVAILABLE:
        return "Assistant (unavailable)"
    if kind:
        return f"Assistant · {str(kind).replace('_', ' ')}"
    return "System"


def _note_text(row: Interaction, data: dict[str, Any], names: dict[str, str]) -> str:
    reason = str(data.get("reason") or "").replace("_", " ")
    staff = names.get(str(data.get("staff_id") or row.actor_ref or ""), "staff")
    if row.event in STAFF_NOTES:
        return f"{staff} {STAFF_NOTES[row.event]}" + (f": {reason}" if reason else "")
    return {
        "handoff.queued": f"Queued for staff ({reason})",
        "handoff.assigned": f"Taken by {staff}",
        "handoff.handed_back": f"Handed back to the assistant by {staff}",
        "handoff.closed": f"Closed by {staff}",
    }.get(row.event, row.event)


# --- the debtor panel ---------------------------------------------------------------------


@dataclass
class DebtPanel:
    debt: Debt
    statement: ledger.Statement
    plans: list[PaymentPlan]
    promises: list[PromiseToPay]
    disputes: list[Dispute]
    payments: list[Payment]
    claims: list[PaymentClaim]


@dataclass
class DebtorPanel:
    debtor: Debtor
    masked_document: str
    debts: list[DebtPanel]
    contacts: list[ChannelContact]
    segment_changes: list[Any]
    verification_locked: bool
    handoffs: list[Handoff] = field(default_factory=list)


def debtor_panel(db_session: Session, debtor: Debtor, now: datetime) -> DebtorPanel:
    debts = []
    for debt in db_session.scalars(
        select(Debt).where(Debt.debtor_id == debtor.id).order_by(Debt.due_date, Debt.id)
    ):
        debts.append(
            DebtPanel(
                debt=debt,
                statement=ledger.balance_explained(db_session=db_session, debt=debt),
                plans=_of(db_session, PaymentPlan, debt, PaymentPlan.created_at),
                promises=_of(db_session, PromiseToPay, debt, PromiseToPay.created_at),
                disputes=_of(db_session, Dispute, debt, Dispute.opened_at),
                payments=_of(db_session, Payment, debt, Payment.paid_at),
                claims=_of(db_session, PaymentClaim, debt, PaymentClaim.created_at),
            )
        )
    contacts = list(
        db_session.scalars(
            select(ChannelContact)
            .where(ChannelContact.debtor_id == debtor.id)
            .order_by(ChannelContact.id)
        )
    )
    recent = list(
        db_session.scalars(
            select(Handoff)
            .where(Handoff.debtor_id == debtor.id)
            .order_by(Handoff.id.desc())
            .limit(10)
        )
    )
    return DebtorPanel(
        debtor=debtor,
        masked_document=debtor.masked_document,
        debts=debts,
        contacts=contacts,
        segment_changes=segments.history(db_session, debtor, limit=5),
        verification_locked=guards.is_debtor_locked(debtor, now),
        handoffs=recent,
    )


def _of(db_session: Session, model, debt: Debt, order) -> list:
    return list(
        db_session.scalars(select(model).where(model.debt_id == debt.id).order_by(order.desc()))
    )


def owner_label(db_session: Session, contact: ChannelContact) -> tuple[Handoff | None, str]:
    """The conversation's open handoff, and who owns it in words."""
    handoff = handoffs.owner_of(db_session, contact)
    if handoff is None:
        return None, "the assistant"
    if handoff.assigned_staff_id is None:
        return handoff, "the queue (waiting for staff)"
    staff = db_session.get(StaffMember, handoff.assigned_staff_id)
    return handoff, staff.display_name if staff else "staff"


def decimal_or_none(minor: int | None, currency: str) -> Decimal | None:
    return None if minor is None else to_decimal(minor, currency)
