"""One-time codes: six digits e-mailed to the address on file, kept only as a keyed hash.

A code is good for the contact that asked for it, for `verification_code_ttl_minutes`, for
`verification_code_max_attempts` tries, once; asking again replaces it. At most
`verification_codes_per_hour` codes are e-mailed to one debtor.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.contacts.models import ChannelContact
from backend.creditors.models import Creditor
from backend.debtors.models import Debtor
from backend.enums import Actor
from backend.exceptions import VerificationFailed
from backend.interactions.service import record
from backend.outbound.email import OutgoingEmail
from backend.verification.models import VerificationCode
from locales import translate

CODE_DIGITS = 6


class CodeLimitReached(Exception):
    """Enough codes were e-mailed to this debtor for now; `retry_after_seconds` says how long."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


def issue(
    *,
    db_session: Session,
    contact: ChannelContact,
    debtor: Debtor,
    settings: Settings,
    now: datetime,
) -> tuple[VerificationCode, OutgoingEmail]:
    """A new code for the contact and the e-mail that carries it (sent after the commit)."""
    _refuse_over_the_hourly_limit(db_session, debtor, settings, now)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row = VerificationCode(
        contact_id=contact.id,
        debtor_id=debtor.id,
        code_hash=_digest(contact.id, code, settings),
        created_at=now,
        expires_at=now + timedelta(minutes=settings.verification_code_ttl_minutes),
        attempts=0,
    )
    db_session.add(row)
    db_session.flush()
    record(
        db_session=db_session,
        event="identity.code_sent",
        actor=Actor.SYSTEM,
        contact=contact,
        debtor_id=debtor.id,
        data={"code_id": row.id, "expires_at": row.expires_at.isoformat()},
    )
    return row, _email(db_session, debtor, code, settings)


def check(
    *,
    db_session: Session,
    contact: ChannelContact,
    code: str,
    settings: Settings,
    now: datetime,
) -> VerificationCode:
    """The contact's current code if `code` is it, marked used; else `VerificationFailed`."""
    query = (
        select(VerificationCode)
        .where(VerificationCode.contact_id == contact.id)
        .order_by(VerificationCode.id.desc())
        .limit(1)
    )
    row = db_session.scalars(query).one_or_none()
    max_attempts = settings.verification_code_max_attempts
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise _expired()
    if contact.debtor_id not in (None, row.debtor_id):
        raise _expired()
    # Conditional updates: two requests racing with one code cannot both try or both use it.
    tried = db_session.execute(
        update(VerificationCode)
        .where(
            VerificationCode.id == row.id,
            VerificationCode.used_at.is_(None),
            VerificationCode.attempts < max_attempts,
        )
        .values(attempts=VerificationCode.attempts + 1)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if not tried:
        raise _expired()
    if not hmac.compare_digest(row.code_hash, _digest(contact.id, code.strip(), settings)):
        attempts = db_session.scalar(
            select(VerificationCode.attempts).where(VerificationCode.id == row.id)
        )
        attempts_left = max(max_attempts - (attempts or max_attempts), 0)
        record(
            db_session=db_session,
            event="identity.code_failed",
            actor=Actor.DEBTOR,
            contact=contact,
            debtor_id=row.debtor_id,
            data={"code_id": row.id, "attempts_left": attempts_left},
        )
        db_session.commit()
        raise VerificationFailed(
            "the code is not right", reason_code="code_incorrect", attempts_left=attempts_left
        )
    used = db_session.execute(
        update(VerificationCode)
        .where(VerificationCode.id == row.id, VerificationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if not used:
        raise _expired()
    return row


def mask_email(address: str) -> str:
    """Enough of an address for its owner to recognise it: ana@example.com → a•••@e•••.com."""
    local, _, domain = address.partition("@")
    labels = domain.split(".")
    masked_domain = f"{labels[0][:1]}•••" + (f".{labels[-1]}" if len(labels) > 1 else "")
    return f"{local[:1]}•••@{masked_domain}"


def _refuse_over_the_hourly_limit(
    db_session: Session, debtor: Debtor, settings: Settings, now: datetime
) -> None:
    since = now - timedelta(hours=1)
    sent, oldest = db_session.execute(
        select(func.count(), func.min(VerificationCode.created_at)).where(
            VerificationCode.debtor_id == debtor.id, VerificationCode.created_at > since
        )
    ).one()
    if sent >= settings.verification_codes_per_hour:
        wait = (oldest + timedelta(hours=1) - now).total_seconds()
        raise CodeLimitReached(max(math.ceil(wait), 1))


def _digest(contact_id: int, code: str, settings: Settings) -> str:
    secret = settings.verification_secret.encode()
    return hmac.new(secret, f"code:{contact_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _email(db_session: Session, debtor: Debtor, code: str, settings: Settings) -> OutgoingEmail:
    assert debtor.email, "codes are issued only to debtors with an e-mail on file"
    creditor = db_session.get(Creditor, debtor.creditor_id)
    language = debtor.preferred_language.value
    minutes = settings.verification_code_ttl_minutes
    return OutgoingEmail(
        to=debtor.email,
        subject=translate(language, "Your verification code"),
        body=translate(
            language,
            "Hello,\n\nyour verification code for the conversation with {creditor} is {code}. "
            "It works once, for {minutes} minutes. Type it in the conversation to continue.\n\n"
            "If you did not ask for it, you can ignore this message: nobody can use the code "
            "without access to this mailbox. Never share it with anyone, including our staff.",
            creditor=creditor.name if creditor else settings.creditor_name,
            code=code,
            minutes=minutes,
        ),
        purpose=f"verification code for debtor {debtor.id}",
    )


def _expired() -> VerificationFailed:
    return VerificationFailed(
        "there is no valid code to check: it expired, was used, or had too many tries; verify "
        "again to receive a new one",
        reason_code="code_expired",
    )
