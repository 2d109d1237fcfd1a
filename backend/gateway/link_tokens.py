"""Signed links for one debtor: deep links that bind a chat, and unsubscribe links.

`t.me/<bot>?start=<token>` binds a Telegram chat to one debtor; `/chat?link=<token>` (from an
e-mailed reminder) binds a new web chat session the same way. Each purpose signs differently,
so a token made for one cannot be used for the other.

A token is base64url(debtor id · expiry · nonce · HMAC-SHA256 truncated to 128 bits): 32 bytes,
43 characters, inside Telegram's 64-character limit for a start parameter and its alphabet
(A-Z, a-z, 0-9, _ and -). It is signed with `link_token_secret`, so the backend keeps no
record of issued tokens; only redeemed ones are stored, which makes each token single-use.

An unsubscribe link (`sign_debtor`) never expires and may be used again: it only names the
debtor, signed, so that following it twice does what following it once did.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.gateway.channels.models import UsedLinkToken
from locales import N_

# debtor id (unsigned 64-bit), expiry (unix seconds, unsigned 32-bit), 4 random bytes.
_PAYLOAD = struct.Struct(">QI4s")
_MAC_BYTES = 16
TOKEN_BYTES = _PAYLOAD.size + _MAC_BYTES
_DEBTOR = struct.Struct(">Q")
# What the person is told when a link cannot bind their chat, by `LinkTokenRefused.reason`.
REFUSALS = {
    "forged": N_("This link is not valid. Please ask us for a new one."),
    "expired": N_("This link has expired. Please ask us for a new one."),
    "used": N_("This link was already used. Please ask us for a new one."),
    "bound_elsewhere": N_(
        "This chat is already linked to another account. Please contact our team."
    ),
}
TELEGRAM = "telegram"
WEBCHAT = "webchat"
UNSUBSCRIBE = "unsubscribe"


class LinkTokenRefused(Exception):
    """The token cannot bind a chat; `reason` is forged, expired or used."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkToken:
    token: str
    debtor_id: int
    expires_at: datetime
    digest: str  # the signature, base64url: what marks the token as used


def issue(
    *, debtor_id: int, secret: str, ttl_minutes: int, now: datetime, purpose: str = TELEGRAM
) -> LinkToken:
    """A new token for `debtor_id`, valid for `ttl_minutes` from `now`."""
    expires_at = (now + timedelta(minutes=ttl_minutes)).replace(microsecond=0)
    payload = _PAYLOAD.pack(debtor_id, int(expires_at.timestamp()), secrets.token_bytes(4))
    mac = _sign(payload, secret, purpose)
    token = _b64encode(payload + mac)
    return LinkToken(token, debtor_id, expires_at, _b64encode(mac))


def verify(*, token: str, secret: str, now: datetime, purpose: str = TELEGRAM) -> LinkToken:
    """The token's content if it is authentic and unexpired; else `LinkTokenRefused`."""
    raw = _b64decode(token)
    if len(raw) != TOKEN_BYTES:
        raise LinkTokenRefused("forged")
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    if not hmac.compare_digest(mac, _sign(payload, secret, purpose)):
        raise LinkTokenRefused("forged")
    debtor_id, expires, _nonce = _PAYLOAD.unpack(payload)
    expires_at = datetime.fromtimestamp(expires, tz=timezone.utc)
    if expires_at <= now:
        raise LinkTokenRefused("expired")
    return LinkToken(token, debtor_id, expires_at, _b64encode(mac))


def redeem(
    *, db_session: Session, token: str, secret: str, now: datetime, purpose: str = TELEGRAM
) -> LinkToken:
    """Verify the token and mark it used; a second redemption is refused as "used".

    The unique digest decides, so two chats racing with the same token bind only one. The
    caller commits, together with the binding.
    """
    link = verify(token=token, secret=secret, now=now, purpose=purpose)
    try:
        with db_session.begin_nested():
            db_session.add(
                UsedLinkToken(
                    digest=link.digest,
                    debtor_id=link.debtor_id,
                    expires_at=link.expires_at,
                    used_at=now,
                )
            )
    except IntegrityError as exc:
        raise LinkTokenRefused("used") from exc
    return link


def sign_debtor(*, debtor_id: int, secret: str, purpose: str = UNSUBSCRIBE) -> str:
    """A token that names `debtor_id` for `purpose`, forever (an unsubscribe link)."""
    payload = _DEBTOR.pack(debtor_id)
    return _b64encode(payload + _sign(payload, secret, purpose))


def debtor_of(*, token: str, secret: str, purpose: str = UNSUBSCRIBE) -> int:
    """The debtor a `sign_debtor` token names; `LinkTokenRefused("forged")` for any other."""
    raw = _b64decode(token)
    payload, mac = raw[: _DEBTOR.size], raw[_DEBTOR.size :]
    if len(raw) != _DEBTOR.size + _MAC_BYTES or not hmac.compare_digest(
        mac, _sign(payload, secret, purpose)
    ):
        raise LinkTokenRefused("forged")
    return _DEBTOR.unpack(payload)[0]


def _sign(payload: bytes, secret: str, purpose: str) -> bytes:
    # Telegram's tokens predate purposes: they keep the plain MAC, so issued links stay valid.
    message = payload if purpose == TELEGRAM else f"{purpose}|".encode() + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64decode(token: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise LinkTokenRefused("forged") from exc


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
