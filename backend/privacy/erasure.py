"""Erasing a debtor's personal data while keeping the record of their debts.

What goes: name, document, birth date, phone and e-mail (overwritten with placeholders), the
contacts' channel ids (replaced by a keyed hash whose key is thrown away: a plain hash of a
phone number is reversed by trying every number), free texts the person wrote outside the log
(dispute descriptions, satisfaction comments) and every text in the interaction log, by
destroying the keys that sealed them: the log stays append-only and keeps its structure
(which events happened, when, on which debt and channel). What stays is what the creditor
must keep for an open or settled debt: the debtor's reference, country and time zone, the
debts with their amounts, dates and status, and the plans, promises, payments, claims and
disputes with their amounts, dates and outcomes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.debts.models import Debt
from backend.disputes.models import Dispute
from backend.enums import Actor
from backend.feedback.models import CsatScore
from backend.interactions.service import record
from backend.privacy import keys

log = logging.getLogger(__name__)
PLACEHOLDER = keys.ERASED
# Verification matches a document *suffix* of at least 3 characters: an empty document never
# matches, so an erased debtor cannot be verified as, whatever birth date is typed.
ERASED_DOCUMENT = ""
ERASED_BIRTH_DATE = date(1900, 1, 1)


@dataclass(frozen=True)
class Erasure:
    debtor_id: int
    contacts: int
    keys_destroyed: int
    already_erased: bool = False


def erase(
    *,
    db_session: Session,
    debtor: Debtor,
    now: datetime,
    actor_ref: str,
    forget_conversations: Callable[[list[str]], object] | None = None,
) -> Erasure:
    """Erase the debtor's personal data now; a second erasure changes nothing.

    `forget_conversations(sender_ids)` also deletes what the dialogue engine kept of the
    debtor's conversations (Rasa's tracker store, see `backend.privacy.rasa_trackers`); it runs
    before the contacts' channel ids are erased, since they name those conversations.
    """
    if debtor.erased_at is not None:
        return Erasure(debtor.id, len(debtor.contacts), 0, already_erased=True)
    if forget_conversations is not None:
        forget_conversations(
            [f"{contact.channel.value}:{contact.external_id}" for contact in debtor.contacts]
        )
    sqlite = db_session.get_bind().dialect.name == "sqlite"
    if sqlite:
        # Freed space is zeroed, so the overwritten values do not linger in the file.
        db_session.execute(text("PRAGMA secure_delete = ON"))
    contacts = list(debtor.contacts)
    destroyed = keys.destroy_keys(
        db_session=db_session,
        debtor_id=debtor.id,
        contact_ids=[contact.id for contact in contacts],
        now=now,
    )
    throwaway_key = os.urandom(32)
    for contact in contacts:
        digest = hmac.new(
            throwaway_key, f"{contact.channel.value}:{contact.external_id}".encode(), hashlib.sha256
        )
        contact.external_id = f"erased:{digest.hexdigest()}"
        contact.opted_out_at = contact.opted_out_at or now  # nobody is to be written to there
    debtor.full_name = PLACEHOLDER
    debtor.document_number = ERASED_DOCUMENT
    debtor.birth_date = ERASED_BIRTH_DATE
    debtor.phone = None
    debtor.email = None
    debtor.erased_at = now
    _erase_free_texts(db_session, debtor, contacts)
    record(
        db_session=db_session,
        event="personal_data.erased",
        actor=Actor.SYSTEM,
        actor_ref=actor_ref,
        debtor_id=debtor.id,
        data={"contacts": len(contacts), "keys_destroyed": destroyed},
    )
    db_session.commit()
    if sqlite:
        # Moves the changes into the database file and empties the write-ahead log, which
        # still holds the pages as they were before.
        busy = db_session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).scalar()
        db_session.commit()
        if busy:
            log.warning(
                "debtor %s erased; the write-ahead log is in use and still holds "
                "the old values until the next checkpoint",
                debtor.id,
            )
    return Erasure(debtor.id, len(contacts), destroyed)


def _erase_free_texts(db_session: Session, debtor: Debtor, contacts: list[ChannelContact]) -> None:
    debt_ids = select(Debt.id).where(Debt.debtor_id == debtor.id)
    for dispute in db_session.scalars(select(Dispute).where(Dispute.debt_id.in_(debt_ids))):
        if dispute.description is not None:
            dispute.description = PLACEHOLDER
        if dispute.resolution_note is not None:
            dispute.resolution_note = PLACEHOLDER
    owners = [CsatScore.debtor_id == debtor.id]
    if contacts:
        owners.append(CsatScore.contact_id.in_([contact.id for contact in contacts]))
    for score in db_session.scalars(select(CsatScore).where(or_(*owners))):
        if score.comment is not None:
            score.comment = PLACEHOLDER
