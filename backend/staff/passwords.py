"""Staff passwords: argon2id hashes in PHC strings, and the policy a new password must meet.

argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes) are the
parameters; a hash made with other ones still verifies, and `needs_rehash` says when to
replace it after a successful login.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from backend.exceptions import InvalidRequest

MIN_PASSWORD_CHARS = 12
# Long enough for any passphrase or manager-generated password; bounds the hashing work.
MAX_PASSWORD_CHARS = 256

_hasher = PasswordHasher()


class WeakPassword(InvalidRequest):
    reason_code = "weak_password"


def check_policy(password: str) -> None:
    """Refuse a password too short (or absurdly long) to be a staff member's, saying why."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(
            f"the password must have at least {MIN_PASSWORD_CHARS} characters "
            f"(it has {len(password)}); a passphrase of a few words is easy to remember"
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"the password must have at most {MAX_PASSWORD_CHARS} characters")
    if not password.strip():
        raise WeakPassword("the password cannot be only spaces")


def hash_password(password: str) -> str:
    """The argon2id PHC string of a password that meets the policy."""
    check_policy(password)
    return _hasher.hash(password)


def rehash(password: str) -> str:
    """A hash with today's parameters of a password that just verified.

    No policy check: a password set under an older policy works until its owner changes it.
    """
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches; argon2's comparison takes the same time either way."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's (then hash it again)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash of nothing anyone knows, verified when the e-mail is unknown, to take as long."""
    import secrets

    return _hasher.hash(secrets.token_urlsafe(32))
