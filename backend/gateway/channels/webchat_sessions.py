"""Web chat sessions the server issues and the person can end.

A session id names one web chat contact. The browser cannot choose it: the server issues
`<24 random characters>.<22 characters of HMAC>` (keyed with the contact-signing secret), and a
message with any other id is refused, so nobody can open thousands of made-up sessions to spread
verification guesses, or write into someone else's conversation by naming it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_FORMAT = re.compile(r"^([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{22})$")
PATTERN = _FORMAT.pattern


class SessionNotIssued(Exception):
    """The session id was not issued by this server."""


def _mac(secret: str, nonce: str) -> str:
    digest = hmac.new(secret.encode(), f"webchat-session|{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=").decode()


def issue(*, secret: str) -> str:
    nonce = secrets.token_urlsafe(18)  # 24 characters
    return f"{nonce}.{_mac(secret, nonce)}"


def check(session_id: str, *, secret: str) -> None:
    """Raise `SessionNotIssued` unless this server issued `session_id`."""
    found = _FORMAT.match(session_id)
    if not found or not hmac.compare_digest(found.group(2), _mac(secret, found.group(1))):
        raise SessionNotIssued("this session was not issued by the server")
