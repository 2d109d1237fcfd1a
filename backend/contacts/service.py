"""Channel contacts: identity verification, language, opt-out."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor, normalize_document
from backend.enums import Actor, Channel, Language
from backend.exceptions import (
    InvalidRequest,
    NotFound,
    NotVerified,
    VerificationFailed,
    VerificationLocked,
)
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


def verify(
    *,
    db_session: Session,
    contact: ChannelContact,
    document_suffix: str,
    birth_date: date,
    settings: Settings,
    now: datetime,
) -> Debtor:
    """Bind the contact to the debtor whose document ends so and who was born that day.

    A contact already bound to a debtor (WhatsApp number, Telegram deep link) can only verify
    as that debtor. Failures count on the contact and on its debtor; after
    `verification_max_attempts` both are locked for `verification_lock_minutes`.
    """
    suffix = normalize_document(document_suffix)
    if len(suffix) != settings.document_suffix_length:
        raise InvalidRequest(
            f"give the last {settings.document_suffix_length} characters of the document",
            reason_code="invalid_document_suffix",
        )
    bound = contact.debtor
    _refuse_if_locked(contact, bound, now)

    if bound is not None:
        candidates = [bound] if _matches(bound, suffix, birth_date) else []
    else:
        query = select(Debtor).where(
            Debtor.document_number.endswith(suffix, autoescape=True),
            Debtor.birth_date == birth_date,
        )
        candidates = list(db_session.scalars(query.limit(2)))
        if candidates and candidates[0].verification_locked_until:
            _refuse_if_locked(contact, candidates[0], now)

    if len(candidates) == 1:
        debtor = candidates[0]
        contact.debtor_id = debtor.id
        contact.verified_at = now
        contact.failed_verifications = 0
        debtor.failed_verifications = 0
        record(
            db_session=db_session,
            event="identity.verified",
            actor=Actor.DEBTOR,
            contact=contact,
            debtor_id=debtor.id,
        )
        db_session.commit()
        return debtor
    if len(candidates) > 1:
        record(
            db_session=db_session, event="identity.ambiguous", actor=Actor.SYSTEM, contact=contact
        )
        db_session.commit()
        raise VerificationFailed(
            "these details match more than one person; a member of staff will help",
            reason_code="verification_ambiguous",
        )
    _count_failure(db_session, contact, bound, settings, now)


def _matches(debtor: Debtor, suffix: str, birth_date: date) -> bool:
    return debtor.document_number.endswith(suffix) and debtor.birth_date == birth_date


def _refuse_if_locked(contact: ChannelContact, debtor: Debtor | None, now: datetime) -> None:
    for locked_until in (
        contact.locked_until,
        debtor.verification_locked_until if debtor else None,
    ):
        if locked_until and locked_until > now:
            raise VerificationLocked(
                "too many failed verification attempts", locked_until=locked_until.isoformat()
            )


def _count_failure(
    db_session: Session,
    contact: ChannelContact,
    debtor: Debtor | None,
    settings: Settings,
    now: datetime,
) -> NoReturn:
    contact.failed_verifications += 1
    if debtor is not None:
        debtor.failed_verifications += 1
    failures = max(contact.failed_verifications, debtor.failed_verifications if debtor else 0)
    attempts_left = max(settings.verification_max_attempts - failures, 0)
    record(
        db_session=db_session,
        event="identity.verification_failed",
        actor=Actor.DEBTOR,
        contact=contact,
        data={"attempts_left": attempts_left},
    )
    if attempts_left == 0:
        locked_until = now + timedelta(minutes=settings.verification_lock_minutes)
        contact.locked_until = locked_until
        contact.failed_verifications = 0
        if debtor is not None:
            debtor.verification_locked_until = locked_until
            debtor.failed_verifications = 0
        record(
            db_session=db_session,
            event="identity.locked",
            actor=Actor.SYSTEM,
            contact=contact,
            data={"locked_until": locked_until.isoformat()},
        )
        db_session.commit()
        raise VerificationLocked(
            "too many failed verification attempts", locked_until=locked_until.isoformat()
        )
    db_session.commit()
    raise VerificationFailed("the details do not match our records", attempts_left=attempts_left)


def is_locked(*, contact: ChannelContact, now: datetime) -> bool:
    """Whether verification is locked now for this contact (or the debtor it is bound to)."""
    debtor = contact.debtor
    return any(
        locked_until is not None and locked_until > now
        for locked_until in (
            contact.locked_until,
            debtor.verification_locked_until if debtor else None,
        )
    )


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


def escalate(*, db_session: Session, contact: ChannelContact, reason: str) -> None:
    """Ask staff to take over this conversation (the console picks escalations up)."""
    record(
        db_session=db_session,
        event="escalation.requested",
        actor=Actor.BOT,
        contact=contact,
        data={"reason": reason},
    )
    db_session.commit()
