"""Counting failed verifications where an attacker cannot spread them out.

A failed attempt counts on the contact (a few tries, then that contact is locked), on every
debtor it could have been aimed at (all debtors born on the date given, found by the indexed
birth date), on the client's address (a keyed hash; an IPv6 address by its /64) and in a global
count. Past `verification_free_failures`, each failure doubles the wait before the next attempt
for that debtor or address is even evaluated; `verification_debtor_max_failures` lock knowledge-
only verification as that debtor. The numbers are in `backend.config` and the README.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv6Address, ip_network

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.enums import Actor
from backend.interactions.service import record
from backend.verification.models import VerificationFailure


@dataclass(frozen=True)
class FailureCounted:
    attempts_left: int  # on this contact
    contact_locked_until: datetime | None  # set when this failure locked the contact


def address_hash(address: IPv4Address | IPv6Address, *, settings: Settings) -> str:
    """A keyed hash of the client's address: equal for equal addresses, useless without the key.

    One IPv6 subscriber usually holds a whole /64, so IPv6 addresses count by their /64.
    """
    key = str(ip_network(f"{address}/64", strict=False)) if address.version == 6 else str(address)
    secret = settings.verification_secret.encode()
    return hmac.new(secret, f"client-address:{key}".encode(), hashlib.sha256).hexdigest()


def backoff_seconds(failures: int, *, settings: Settings) -> int:
    """The wait after `failures` failures: 0 for the free ones, then base, 2×base, 4×base."""
    beyond = failures - settings.verification_free_failures
    if beyond <= 0:
        return 0
    if beyond > 32:  # far past any sensible cap; keeps the power small
        return settings.verification_backoff_max_seconds
    wait = settings.verification_backoff_base_seconds * 2 ** (beyond - 1)
    return min(wait, settings.verification_backoff_max_seconds)


def seconds_to_wait(
    failures: int, last_failed_at: datetime | None, *, settings: Settings, now: datetime
) -> int:
    """How many whole seconds from `now` until the next attempt may be evaluated (0: now)."""
    wait = backoff_seconds(failures, settings=settings)
    if not wait or last_failed_at is None:
        return 0
    remaining = (last_failed_at + timedelta(seconds=wait) - now).total_seconds()
    return max(math.ceil(remaining), 0)


def address_wait(
    *, db_session: Session, address: str | None, settings: Settings, now: datetime
) -> int:
    if address is None:
        return 0
    since = now - timedelta(minutes=settings.verification_address_window_minutes)
    failures, last = db_session.execute(
        select(func.count(), func.max(VerificationFailure.occurred_at)).where(
            VerificationFailure.address_hash == address, VerificationFailure.occurred_at > since
        )
    ).one()
    return seconds_to_wait(failures, last, settings=settings, now=now)


def debtor_wait(
    *, db_session: Session, scope: ColumnElement[bool], settings: Settings, now: datetime
) -> int:
    """The longest wait among the debtors in `scope` whose knowledge-only verification is open.

    A locked debtor imposes no wait: knowledge alone cannot succeed for them anyway, and the
    person must still be able to ask for the code that lets them in.
    """
    rows = db_session.execute(
        select(Debtor.failed_verifications, Debtor.last_failed_verification_at).where(
            scope,
            Debtor.failed_verifications > settings.verification_free_failures,
            unlocked(now),
        )
    ).all()
    waits = [seconds_to_wait(n, last, settings=settings, now=now) for n, last in rows]
    return max(waits, default=0)


def unlocked(now: datetime) -> ColumnElement[bool]:
    """Debtors whose knowledge-only verification is not locked at `now`."""
    return or_(Debtor.verification_locked_until.is_(None), Debtor.verification_locked_until <= now)


def any_locked(*, db_session: Session, scope: ColumnElement[bool], now: datetime) -> bool:
    query = select(Debtor.id).where(scope, Debtor.verification_locked_until > now).limit(1)
    return db_session.scalar(query) is not None


def is_debtor_locked(debtor: Debtor, now: datetime) -> bool:
    return debtor.verification_locked_until is not None and debtor.verification_locked_until > now


def recent_failures(*, db_session: Session, now: datetime) -> int:
    """Failures in the last hour, everywhere."""
    since = now - timedelta(hours=1)
    query = select(func.count()).where(VerificationFailure.occurred_at > since)
    return db_session.scalar(query) or 0


def count_failure(
    *,
    db_session: Session,
    contact: ChannelContact,
    address: str | None,
    scope: ColumnElement[bool],
    settings: Settings,
    now: datetime,
) -> FailureCounted:
    """Count one failed attempt everywhere it belongs; the caller commits and answers."""
    db_session.add(
        VerificationFailure(occurred_at=now, contact_id=contact.id, address_hash=address)
    )
    counted = db_session.execute(
        update(Debtor)
        .where(scope)
        .values(
            failed_verifications=Debtor.failed_verifications + 1,
            last_failed_verification_at=now,
        )
        .execution_options(synchronize_session="fetch")
    ).rowcount
    _lock_debtors_over_the_limit(db_session, scope, settings, now)

    contact.failed_verifications += 1
    attempts_left = max(settings.verification_max_attempts - contact.failed_verifications, 0)
    record(
        db_session=db_session,
        event="identity.verification_failed",
        actor=Actor.DEBTOR,
        contact=contact,
        data={"attempts_left": attempts_left, "debtors_counted": counted},
    )
    if attempts_left:
        return FailureCounted(attempts_left, None)
    locked_until = now + timedelta(minutes=settings.verification_lock_minutes)
    contact.locked_until = locked_until
    contact.failed_verifications = 0
    record(
        db_session=db_session,
        event="identity.locked",
        actor=Actor.SYSTEM,
        contact=contact,
        data={"locked_until": locked_until.isoformat()},
    )
    return FailureCounted(0, locked_until)


def _lock_debtors_over_the_limit(
    db_session: Session, scope: ColumnElement[bool], settings: Settings, now: datetime
) -> None:
    over = (
        scope,
        Debtor.failed_verifications >= settings.verification_debtor_max_failures,
        unlocked(now),
    )
    debtor_ids = list(db_session.scalars(select(Debtor.id).where(*over)))
    if not debtor_ids:
        return
    locked_until = now + timedelta(minutes=settings.verification_debtor_lock_minutes)
    db_session.execute(
        update(Debtor)
        .where(Debtor.id.in_(debtor_ids))
        .values(verification_locked_until=locked_until)
        .execution_options(synchronize_session="fetch")
    )
    for debtor_id in debtor_ids:
        record(
            db_session=db_session,
            event="identity.knowledge_locked",
            actor=Actor.SYSTEM,
            debtor_id=debtor_id,
            data={"locked_until": locked_until.isoformat()},
        )
