"""Identity verification of a channel contact, guarded so that it cannot be guessed.

Knowledge is the last characters of the document plus the birth date. It is enough alone only
where the channel already proves possession — a WhatsApp number equal to the debtor's phone on
file, a Telegram chat bound by a signed deep link — or where the creditor chose
`knowledge_only`. Elsewhere correct details bring a one-time code to the e-mail on file, which
completes verification.

Failures are counted by `guards` on the contact, on every debtor born that day, on the client's
address and globally; waits grow with them and, past a limit, knowledge alone verifies nobody as
that debtor. While a debtor is locked, a correct guess is answered and counted exactly like a
wrong one (and quietly e-mails the real person a code), so the answer reveals nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.contacts.models import ChannelContact
from backend.creditors.models import Creditor
from backend.debtors.models import Debtor, normalize_document
from backend.enums import Actor, Channel, VerificationMode
from backend.exceptions import (
    InvalidRequest,
    NotFound,
    VerificationBackoff,
    VerificationFailed,
    VerificationLocked,
)
from backend.handoffs import service as handoffs
from backend.interactions.service import record
from backend.outbound.email import OutgoingEmail
from backend.verification import codes, guards
from backend.verification.models import (
    CodeSent,
    LockLift,
    VerificationAttempt,
    VerificationStatus,
)

Deliver = Callable[[OutgoingEmail], None]


def verify(
    *,
    db_session: Session,
    contact: ChannelContact,
    attempt: VerificationAttempt,
    settings: Settings,
    now: datetime,
    deliver: Deliver,
) -> Debtor | CodeSent:
    """The verified debtor, or the code sent when one is still needed; else a domain error.

    `deliver` sends an e-mail after the commit without making the answer wait for it.
    """
    suffix = normalize_document(attempt.document_suffix)
    if len(suffix) != settings.document_suffix_length:
        raise InvalidRequest(
            f"give the last {settings.document_suffix_length} characters of the document",
            reason_code="invalid_document_suffix",
        )
    address = (
        guards.address_hash(attempt.client_address, settings=settings)
        if attempt.client_address is not None
        else None
    )
    if contact.locked_until is not None and contact.locked_until > now:
        raise _locked(contact_locked_until=contact.locked_until, knowledge_locked=False)
    owner = possessed_debtor(db_session=db_session, contact=contact)
    if owner is not None:
        return _verify_with_possession(
            db_session, contact, owner, suffix, attempt.birth_date, address, settings, now
        )
    return _verify_by_knowledge(
        db_session, contact, suffix, attempt.birth_date, address, settings, now, deliver
    )


def verify_code(
    *, db_session: Session, contact: ChannelContact, code: str, settings: Settings, now: datetime
) -> Debtor:
    """Complete verification with the code e-mailed to the debtor; locks do not stop it."""
    row = codes.check(db_session=db_session, contact=contact, code=code, settings=settings, now=now)
    debtor = db_session.get(Debtor, row.debtor_id)
    assert debtor is not None
    _bind(db_session, contact, debtor, now, factors=["knowledge", "code"])
    return debtor


def possessed_debtor(*, db_session: Session, contact: ChannelContact) -> Debtor | None:
    """The debtor whose channel this contact is, when the channel itself proves it."""
    if contact.channel == Channel.TELEGRAM:
        return contact.debtor if contact.linked_at is not None else None
    if contact.channel != Channel.WHATSAPP:
        return None
    debtor = contact.debtor
    if debtor is None:
        on_file = select(Debtor).where(Debtor.phone == f"+{contact.external_id}").limit(2)
        found = list(db_session.scalars(on_file))
        debtor = found[0] if len(found) == 1 else None
    if debtor is None or not debtor.phone:
        return None
    return debtor if _digits(debtor.phone) == contact.external_id else None


def is_locked(*, db_session: Session, contact: ChannelContact, now: datetime) -> bool:
    """Whether a verification attempt from this contact would be refused as locked now."""
    if contact.locked_until is not None and contact.locked_until > now:
        return True
    if contact.debtor is None or possessed_debtor(db_session=db_session, contact=contact):
        return False
    return guards.is_debtor_locked(contact.debtor, now)


def status(*, db_session: Session, debtor_id: int, now: datetime) -> VerificationStatus:
    debtor = _debtor(db_session, debtor_id)
    return VerificationStatus(
        debtor_id=debtor.id,
        locked=guards.is_debtor_locked(debtor, now),
        locked_until=debtor.verification_locked_until
        if guards.is_debtor_locked(debtor, now)
        else None,
        failed_verifications=debtor.failed_verifications,
    )


def lift_lock(
    *, db_session: Session, debtor_id: int, lift: LockLift, now: datetime
) -> VerificationStatus:
    """Staff reopen knowledge-only verification for a debtor and restart the count; audited."""
    debtor = _debtor(db_session, debtor_id)
    record(
        db_session=db_session,
        event="identity.lock_lifted",
        actor=Actor.AGENT,
        actor_ref=lift.lifted_by,
        debtor_id=debtor.id,
        data={
            "reason": lift.reason,
            "was_locked": guards.is_debtor_locked(debtor, now),
            "failed_verifications": debtor.failed_verifications,
        },
    )
    debtor.verification_locked_until = None
    debtor.failed_verifications = 0
    debtor.last_failed_verification_at = None
    db_session.commit()
    return status(db_session=db_session, debtor_id=debtor.id, now=now)


def _verify_with_possession(
    db_session: Session,
    contact: ChannelContact,
    owner: Debtor,
    suffix: str,
    birth_date: date,
    address: str | None,
    settings: Settings,
    now: datetime,
) -> Debtor:
    """The channel proves possession: knowledge completes it, whatever else is locked."""
    if _matches(owner, suffix, birth_date):
        _bind(db_session, contact, owner, now, factors=["possession", "knowledge"])
        return owner
    counted = guards.count_failure(
        db_session=db_session,
        contact=contact,
        address=address,
        scope=Debtor.id == owner.id,
        settings=settings,
        now=now,
    )
    if counted.contact_locked_until:
        handoffs.escalate(db_session, contact=contact, reason="verification_locked", now=now)
    db_session.commit()
    if counted.contact_locked_until:
        raise _locked(contact_locked_until=counted.contact_locked_until, knowledge_locked=False)
    raise _failed(counted.attempts_left)


def _verify_by_knowledge(
    db_session: Session,
    contact: ChannelContact,
    suffix: str,
    birth_date: date,
    address: str | None,
    settings: Settings,
    now: datetime,
    deliver: Deliver,
) -> Debtor | CodeSent:
    bound = contact.debtor
    # Whom this attempt could be aimed at: the bound debtor, or everybody born that day.
    scope: ColumnElement[bool] = (
        Debtor.id == bound.id if bound is not None else Debtor.birth_date == birth_date
    )
    wait = max(
        guards.address_wait(db_session=db_session, address=address, settings=settings, now=now),
        guards.debtor_wait(db_session=db_session, scope=scope, settings=settings, now=now),
    )
    if wait:
        raise VerificationBackoff(
            "too many failed attempts; wait before trying again", retry_after_seconds=wait
        )

    if bound is not None:
        matched = [bound] if _matches(bound, suffix, birth_date) else []
    else:
        query = select(Debtor).where(
            Debtor.birth_date == birth_date,
            Debtor.document_number.endswith(suffix, autoescape=True),
        )
        matched = list(db_session.scalars(query.limit(2)))
    locked = [debtor for debtor in matched if guards.is_debtor_locked(debtor, now)]

    if len(matched) == 1 and not locked:
        return _knowledge_matched(db_session, contact, matched[0], settings, now, deliver)
    if len(matched) > 1 and not locked:
        record(
            db_session=db_session, event="identity.ambiguous", actor=Actor.SYSTEM, contact=contact
        )
        db_session.commit()
        raise VerificationFailed(
            "these details match more than one person; a member of staff will help",
            reason_code="verification_ambiguous",
        )

    # A wrong guess, or a right one for a locked debtor: counted and answered alike.
    email = None
    if len(matched) == 1 and matched[0].email:
        try:
            _, email = codes.issue(
                db_session=db_session,
                contact=contact,
                debtor=matched[0],
                settings=settings,
                now=now,
            )
        except codes.CodeLimitReached:
            email = None  # enough codes went to this mailbox this hour
    counted = guards.count_failure(
        db_session=db_session,
        contact=contact,
        address=address,
        scope=scope,
        settings=settings,
        now=now,
    )
    knowledge_locked = guards.any_locked(db_session=db_session, scope=scope, now=now)
    if counted.contact_locked_until and not knowledge_locked:
        # Locked for good: a person checks who this is. (With knowledge locked, the real
        # person types the e-mailed code to the bot instead.)
        handoffs.escalate(db_session, contact=contact, reason="verification_locked", now=now)
    db_session.commit()
    if email is not None:
        deliver(email)
    if knowledge_locked or counted.contact_locked_until:
        raise _locked(
            contact_locked_until=counted.contact_locked_until, knowledge_locked=knowledge_locked
        )
    raise _failed(counted.attempts_left)


def _knowledge_matched(
    db_session: Session,
    contact: ChannelContact,
    debtor: Debtor,
    settings: Settings,
    now: datetime,
    deliver: Deliver,
) -> Debtor | CodeSent:
    """Correct details for an unlocked debtor: verified, or a code when one is needed."""
    if not _code_needed(db_session, debtor, settings, now):
        _bind(db_session, contact, debtor, now, factors=["knowledge"])
        return debtor
    if not debtor.email:
        record(
            db_session=db_session,
            event="identity.second_factor_unavailable",
            actor=Actor.SYSTEM,
            contact=contact,
            debtor_id=debtor.id,
        )
        db_session.commit()
        raise VerificationFailed(
            "a code is needed and there is no e-mail on file to send it to; a member of staff "
            "will help",
            reason_code="second_factor_unavailable",
        )
    try:
        row, email = codes.issue(
            db_session=db_session, contact=contact, debtor=debtor, settings=settings, now=now
        )
    except codes.CodeLimitReached as exc:
        raise VerificationBackoff(
            "a code was sent several times already; wait before asking again",
            retry_after_seconds=exc.retry_after_seconds,
        ) from exc
    db_session.commit()
    deliver(email)
    return CodeSent(destination=codes.mask_email(debtor.email), expires_at=row.expires_at)


def _code_needed(db_session: Session, debtor: Debtor, settings: Settings, now: datetime) -> bool:
    """The creditor asks for it, or failures everywhere show someone guessing at scale."""
    creditor = db_session.get(Creditor, debtor.creditor_id)
    if creditor is None or creditor.verification_mode != VerificationMode.KNOWLEDGE_ONLY:
        return True
    surge = guards.recent_failures(db_session=db_session, now=now)
    return surge >= settings.verification_global_failures_per_hour


def _bind(
    db_session: Session, contact: ChannelContact, debtor: Debtor, now: datetime, factors: list[str]
) -> None:
    contact.debtor_id = debtor.id
    contact.verified_at = now
    contact.failed_verifications = 0
    debtor.failed_verifications = 0  # the lock, if any, stays until it expires or staff lift it
    debtor.last_failed_verification_at = None
    record(
        db_session=db_session,
        event="identity.verified",
        actor=Actor.DEBTOR,
        contact=contact,
        debtor_id=debtor.id,
        data={"factors": factors},
    )
    db_session.commit()
    db_session.refresh(contact)


def _matches(debtor: Debtor, suffix: str, birth_date: date) -> bool:
    return debtor.document_number.endswith(suffix) and debtor.birth_date == birth_date


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _debtor(db_session: Session, debtor_id: int) -> Debtor:
    debtor = db_session.get(Debtor, debtor_id)
    if debtor is None:
        raise NotFound("unknown debtor", reason_code="debtor_not_found")
    return debtor


def _failed(attempts_left: int) -> VerificationFailed:
    return VerificationFailed("the details do not match our records", attempts_left=attempts_left)


def _locked(*, contact_locked_until: datetime | None, knowledge_locked: bool) -> VerificationLocked:
    """One 423 for every locked case; nothing in it depends on whether the details matched."""
    details: dict[str, object] = {}
    if contact_locked_until is not None:
        details["locked_until"] = contact_locked_until.isoformat()
    if knowledge_locked:
        # The real person gets in with the code e-mailed to them when the details were right.
        details["second_factor"] = "code_if_matched"
        message = (
            "verification with these details is locked; if they match our records, a code was "
            "sent to the e-mail on file"
        )
    else:
        message = "too many failed verification attempts"
    return VerificationLocked(message, **details)
