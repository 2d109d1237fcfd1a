"""Channel contacts: who is verified, language, opt-out (verification: backend/verification/)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.enums import Actor, Channel, Language
from backend.exceptions import NotFound, NotVerified
from backend.handoffs import service as handoffs
from backend.interactions.service import record


def get(*, db_session: Session, channel: Channel, external_id: str) -> ChannelContact | None:
    query = select(ChannelContact).where(
        ChannelContact.channel == channel, ChannelContact.external_id == external_id
    )
    return db_session.scalars(query).one_or_none()


def get_or_create(*, db_session: Session, channel: Channel, external_id: str) -> ChannelContact:
    contact = get(db_session=db_session, channel=channel, external_id=external_id)
    if contact:
        return contact
    contact = ChannelContact(channel=channel, external_id=external_id, failed_verifications=0)
    try:
        with db_session.begin_nested():
            db_session.add(contact)
    except IntegrityError:  # created by a concurrent request for the same sender
        contact = get(db_session=db_session, channel=channel, external_id=external_id)
        assert contact is not None
    return contact


def forget_verification(*, db_session: Session, contact: ChannelContact) -> None:
    """Details need verifying again (the person ended the conversation)."""
    contact.verified_at = None


def touch_verification(*, contact: ChannelContact, now: datetime) -> None:
    """A verified contact is active: its idle timeout starts again from now.

    `verified_at` is when the contact last proved or used its verification, so that
    `verification_ttl_minutes` is an idle timeout, not a fixed lifetime.
    """
    contact.verified_at = now


def is_verified(*, contact: ChannelContact, settings: Settings, now: datetime) -> bool:
    if contact.debtor_id is None or contact.verified_at is None:
        return False
    return contact.verified_at + timedelta(minutes=settings.verification_ttl_minutes) > now


def require_verified(
    *, db_session: Session, channel: Channel, external_id: str, settings: Settings, now: datetime
) -> tuple[ChannelContact, Debtor]:
    """The contact and its debtor, if the contact verified recently enough to see debt details."""
    contact = get(db_session=db_session, channel=channel, external_id=external_id)
    if contact is None:
        raise NotFound("unknown contact", reason_code="contact_not_found")
    if not is_verified(contact=contact, settings=settings, now=now):
        raise NotVerified("verify the contact's identity first")
    return contact, contact.debtor


def set_language(*, db_session: Session, contact: ChannelContact, language: Language) -> None:
    """Remember the language on the contact and, once it is known, on the debtor."""
    previous = contact.language
    contact.language = language
    if contact.debtor is not None:
        contact.debtor.preferred_language = language
    if previous != language:
        record(
            db_session=db_session,
            event="language.changed",
            actor=Actor.DEBTOR,
            contact=contact,
            data={"from": previous.value if previous else None, "to": language.value},
        )
    db_session.commit()


def opt_out(*, db_session: Session, contact: ChannelContact, now: datetime) -> None:
    """Honour STOP on this channel: no further contact here until the person opts back in."""
    if contact.opted_out_at is None:
        contact.opted_out_at = now
        record(
            db_session=db_session, event="contact.opted_out", actor=Actor.DEBTOR, contact=contact
        )
    db_session.commit()


def opt_out_everywhere(*, db_session: Session, contact: ChannelContact, now: datetime) -> int:
    """Honour STOP on every channel: opt out each contact of the contact's debtor.

    A contact bound to no debtor stands only for itself. Returns how many contacts were
    opted out now (those already opted out are left as they were).
    """
    if contact.debtor_id is None:
        siblings = [contact]
    else:
        query = select(ChannelContact).where(ChannelContact.debtor_id == contact.debtor_id)
        siblings = list(db_session.scalars(query.order_by(ChannelContact.id)))
    opted_out = 0
    for sibling in siblings:
        if sibling.opted_out_at is not None:
            continue
        sibling.opted_out_at = now
        opted_out += 1
        record(
            db_session=db_session,
            event="contact.opted_out",
            actor=Actor.DEBTOR,
            contact=sibling,
            data={"scope": "all_channels", "requested_on": contact.channel.value},
        )
    db_session.commit()
    return opted_out


def opt_in(*, db_session: Session, contact: ChannelContact) -> None:
    if contact.opted_out_at is not None:
        contact.opted_out_at = None
        record(db_session=db_session, event="contact.opted_in", actor=Actor.DEBTOR, contact=contact)
    db_session.commit()


def get_existing(*, db_session: Session, channel: Channel, external_id: str) -> ChannelContact:
    contact = get(db_session=db_session, channel=channel, external_id=external_id)
    if contact is None:
        raise NotFound("unknown contact", reason_code="contact_not_found")
    return contact


# The bot's reasons, as the staff queue names them (backend/handoffs/service.py REASONS).
HANDOFF_REASONS = {"not_understood": "repeated_fallback"}


def escalate(
    *,
    db_session: Session,
    contact: ChannelContact,
    reason: str,
    now: datetime,
    settings: Settings,
) -> int | None:
    """Ask staff to take over this conversation: queued for the console (`backend/handoffs`).

    Hardship is queued only when `escalate_on_hardship` says so; it is logged either way.
    Returns the open handoff's id, or None when nothing was queued.
    """
    record(
        db_session=db_session,
        event="escalation.requested",
        actor=Actor.BOT,
        contact=contact,
        data={"reason": reason},
    )
    handoff_id = None
    if reason != "hardship" or settings.escalate_on_hardship:
        handoff = handoffs.escalate(
            db_session, contact=contact, reason=HANDOFF_REASONS.get(reason, reason), now=now
        )
        handoff_id = handoff.id
    db_session.commit()
    return handoff_id
