"""Staff members and their console sessions: create, sign in (throttled), sessions, sign out.

A session's cookie holds a random token; the table keeps only its SHA-256, so a copy of the
database opens no browser's session. Functions flush; the caller's transaction commits.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from datetime import datetime, timedelta

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from backend.exceptions import Conflict, InvalidRequest, NotFound, RateLimited, Unauthenticated
from backend.staff import passwords
from backend.staff.models import StaffMember, StaffRole, StaffSession

IDLE_TIMEOUT = timedelta(hours=8)
MAX_SESSION_AGE = timedelta(hours=24)
# last_seen_at is written at most this often, so that each page view is not a write.
TOUCH_EVERY = timedelta(minutes=1)
LOGIN_FAILED_MESSAGE = "That e-mail and password do not match an active account."

# Demo accounts, created by `seed_demo_staff` for the demo data only (README names them).
DEMO_STAFF = (
    ("agent@acordo.demo", "Alex Agent", StaffRole.AGENT, "acordo-demo-agent"),
    ("supervisor@acordo.demo", "Sam Supervisor", StaffRole.SUPERVISOR, "acordo-demo-supervisor"),
)


class InvalidCredentials(Unauthenticated):
    """Unknown e-mail, wrong password or inactive account: the same answer for each."""

    reason_code = "invalid_credentials"


class LoginThrottled(RateLimited):
    reason_code = "login_throttled"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle:
    """Failed sign-ins per e-mail and per client address over a moving window, in memory.

    Only failures count; once either is over the rate, sign-ins are refused without checking
    the password until the window moves on. A success clears the e-mail's count (not the
    address's: one address guessing many accounts stays slowed down).
    """

    def __init__(self, rate: str) -> None:
        self._item: RateLimitItem = parse(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def _keys(self, email: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("staff-login-email", email)]
        if address:
            keys.append(("staff-login-address", address))
        return keys

    def retry_after(self, *, email: str, address: str | None) -> int | None:
        """None when a sign-in may be tried now, else the seconds to wait."""
        waits = []
        for scope, key in self._keys(email, address):
            if not self._limiter.test(self._item, scope, key):
                reset_at, _remaining = self._limiter.get_window_stats(self._item, scope, key)
                waits.append(max(1, math.ceil(reset_at - time.time())))
        return max(waits) if waits else None

    def failed(self, *, email: str, address: str | None) -> None:
        for scope, key in self._keys(email, address):
            self._limiter.hit(self._item, scope, key)

    def succeeded(self, *, email: str) -> None:
        self._limiter.clear(self._item, "staff-login-email", email)


_throttle_lock = threading.Lock()


def throttle_for(holder: object, rate: str) -> LoginThrottle:
    """The throttle kept on `holder` (the app's state), made on first use."""
    with _throttle_lock:
        throttle = getattr(holder, "staff_login_throttle", None)
        if throttle is None:
            throttle = LoginThrottle(rate)
            holder.staff_login_throttle = throttle
        return throttle


def get_by_email(db_session: Session, email: str) -> StaffMember | None:
    return db_session.scalar(select(StaffMember).where(StaffMember.email == normalize_email(email)))


def list_staff(db_session: Session) -> list[StaffMember]:
    return list(db_session.scalars(select(StaffMember).order_by(StaffMember.email)))


def create_staff(
    db_session: Session, *, email: str, display_name: str, password: str, role: StaffRole
) -> StaffMember:
    """A new active staff member; the password must meet the policy (WeakPassword if not)."""
    email = normalize_email(email)
    if "@" not in email or len(email) > 200:
        raise InvalidRequest(f"{email!r} is not an e-mail address")
    display_name = display_name.strip()
    if not display_name:
        raise InvalidRequest("a display name is required")
    if get_by_email(db_session, email) is not None:
        raise Conflict(f"there is already a staff member with the e-mail {email}")
    staff = StaffMember(
        email=email,
        display_name=display_name[:120],
        password_hash=passwords.hash_password(password),
        role=StaffRole(role),
        active=True,
    )
    db_session.add(staff)
    db_session.flush()
    return staff


def deactivate_staff(db_session: Session, *, email: str, now: datetime) -> StaffMember:
    """The member can no longer sign in, and every session they have open ends now."""
    staff = _require(db_session, email)
    staff.active = False
    _end_all_sessions(db_session, staff, now)
    return staff


def set_password(db_session: Session, *, email: str, password: str, now: datetime) -> StaffMember:
    """A new password (it must meet the policy); the member's open sessions end."""
    staff = _require(db_session, email)
    staff.password_hash = passwords.hash_password(password)
    _end_all_sessions(db_session, staff, now)
    return staff


def _require(db_session: Session, email: str) -> StaffMember:
    staff = get_by_email(db_session, email)
    if staff is None:
        raise NotFound(f"no staff member with the e-mail {normalize_email(email)}")
    return staff


def _end_all_sessions(db_session: Session, staff: StaffMember, now: datetime) -> None:
    db_session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff.id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db_session.flush()


def authenticate(
    db_session: Session,
    *,
    email: str,
    password: str,
    now: datetime,
    throttle: LoginThrottle | None = None,
    address: str | None = None,
) -> StaffMember:
    """The active staff member with that e-mail and password.

    Raises InvalidCredentials alike for an unknown e-mail, a wrong password and an inactive
    account, after the same argon2 work (a dummy hash when the e-mail is unknown), and
    LoginThrottled when too many sign-ins failed for the e-mail or the address.
    """
    email = normalize_email(email)
    if throttle is not None:
        wait = throttle.retry_after(email=email, address=address)
        if wait is not None:
            raise LoginThrottled(
                f"Too many failed sign-ins. Try again in {math.ceil(wait / 60)} minute(s).",
                retry_after_seconds=wait,
            )
    staff = get_by_email(db_session, email)
    if staff is None:
        passwords.verify_password(passwords.dummy_hash(), password)
        matches = False
    else:
        matches = passwords.verify_password(staff.password_hash, password) and staff.active
    if not matches:
        if throttle is not None:
            throttle.failed(email=email, address=address)
        raise InvalidCredentials(LOGIN_FAILED_MESSAGE)
    if passwords.needs_rehash(staff.password_hash):
        staff.password_hash = passwords.rehash(password)
    staff.last_login_at = now
    if throttle is not None:
        throttle.succeeded(email=email)
    db_session.flush()
    return staff


def open_session(
    db_session: Session,
    *,
    staff: StaffMember,
    now: datetime,
    idle_timeout: timedelta = IDLE_TIMEOUT,
    max_age: timedelta = MAX_SESSION_AGE,
) -> tuple[str, StaffSession]:
    """A new session: the token for the cookie (shown once), and the row keeping its hash."""
    token = secrets.token_urlsafe(32)
    session = StaffSession(
        token_hash=token_hash(token),
        staff_id=staff.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=min(now + idle_timeout, now + max_age),
    )
    session.staff = staff
    db_session.add(session)
    db_session.flush()
    return token, session


def session_for(
    db_session: Session,
    token: str | None,
    now: datetime,
    *,
    idle_timeout: timedelta = IDLE_TIMEOUT,
    max_age: timedelta = MAX_SESSION_AGE,
) -> StaffSession | None:
    """The live session of a cookie's token, or None (unknown, revoked, expired, inactive).

    Use moves the idle expiry on, never past `max_age` after sign-in.
    """
    if not token:
        return None
    session = db_session.scalar(
        select(StaffSession).where(StaffSession.token_hash == token_hash(token))
    )
    if session is None or session.revoked_at is not None:
        return None
    hard_end = session.created_at + max_age
    if now >= session.expires_at or now >= hard_end or not session.staff.active:
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:
        session.last_seen_at = now
        session.expires_at = min(now + idle_timeout, hard_end)
        db_session.flush()
    return session


def end_session(db_session: Session, *, session: StaffSession, now: datetime) -> None:
    """Sign out: the session's token opens nothing any more."""
    if session.revoked_at is None:
        session.revoked_at = now
        db_session.flush()


def purge_sessions(
    db_session: Session, *, now: datetime, keep: timedelta = timedelta(days=30)
) -> int:
    """Delete sessions that ended (revoked or expired) more than `keep` ago; how many."""
    cutoff = now - keep
    ended = db_session.execute(
        delete(StaffSession).where(
            or_(StaffSession.revoked_at < cutoff, StaffSession.expires_at < cutoff)
        )
    )
    db_session.flush()
    return ended.rowcount


def seed_demo_staff(db_session: Session) -> list[StaffMember]:
    """The demo's agent and supervisor (see DEMO_STAFF), once; for the demo data only."""
    created = []
    for email, name, role, password in DEMO_STAFF:
        staff = get_by_email(db_session, email)
        if staff is None:
            staff = create_staff(
                db_session, email=email, display_name=name, password=password, role=role
            )
        created.append(staff)
    return created
