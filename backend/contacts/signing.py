"""Signed contacts: the gateway vouches, turn by turn, for whom the action server may ask about.

The action server holds a service token, but a token alone would let anyone who reaches it
ask about any contact ("read the balance of whatsapp:<number> while they are verified"). So
the gateway, which really received the message, signs the turn's contact (channel, external
id, expiry) into the message metadata; the action server passes that signature back with each
backend call for the contact (header `X-Acordo-Contact`), and the backend serves a contact's
routes only with a valid signature for exactly that contact.

Token: `v1.<expiry as Unix seconds>.<HMAC-SHA256 of "v1|channel|external id|expiry">`,
base64url without padding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

VERSION = "v1"
HEADER = "X-Acordo-Contact"


class ContactSignatureInvalid(Exception):
    """The signature is missing, malformed, expired or for another contact."""


def _mac(secret: str, channel: str, external_id: str, expires: int) -> str:
    message = f"{VERSION}|{channel}|{external_id}|{expires}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_contact(
    *, channel: str, external_id: str, secret: str, now: datetime, ttl: timedelta
) -> str:
    expires = int((now + ttl).timestamp())
    return f"{VERSION}.{expires}.{_mac(secret, channel, external_id, expires)}"


def check_contact_signature(
    token: str | None, *, channel: str, external_id: str, secret: str, now: datetime
) -> None:
    """Raise `ContactSignatureInvalid` unless `token` signs this contact and has not expired."""
    if not token:
        raise ContactSignatureInvalid("no contact signature")
    version, _, rest = token.partition(".")
    expires_text, _, mac = rest.partition(".")
    if version != VERSION or not expires_text.isdigit() or not mac:
        raise ContactSignatureInvalid("malformed contact signature")
    expires = int(expires_text)
    if not hmac.compare_digest(mac, _mac(secret, channel, external_id, expires)):
        raise ContactSignatureInvalid("contact signature does not match")
    if expires < now.timestamp():
        raise ContactSignatureInvalid("contact signature expired")
