"""The payment provider's webhook signature: HMAC-SHA256 over a timestamp and the raw body.

The provider sends two headers with each `POST /api/v1/payments`:

    X-Acordo-Timestamp: 1764000000                  (Unix seconds when it signed)
    X-Acordo-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">

keyed with `ACORDO_PAYMENTS_WEBHOOK_SECRET`, a secret only the provider and this service hold
(not the action server's token). The timestamp is inside the signed string, so a captured
request can be replayed only while it is fresh: older (or further in the future) than
`MAX_AGE_SECONDS` it is refused. Within that window a replay is harmless, because payments
are idempotent by `external_id`.
"""

from __future__ import annotations

import hashlib
import hmac

from backend.exceptions import Unauthenticated

TIMESTAMP_HEADER = "X-Acordo-Timestamp"
SIGNATURE_HEADER = "X-Acordo-Signature"
MAX_AGE_SECONDS = 5 * 60
_SCHEME = "sha256="


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for this body signed at `timestamp`."""
    message = str(timestamp).encode() + b"." + body
    return _SCHEME + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    *, secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float
) -> None:
    """Raise Unauthenticated unless the body is signed with `secret` less than 5 minutes ago."""
    if not timestamp or not signature:
        raise Unauthenticated(
            f"sign the request: {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required",
            reason_code="signature_required",
        )
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise Unauthenticated("the timestamp is not Unix seconds", reason_code="invalid_timestamp")
    expected = sign(secret=secret, timestamp=int(timestamp), body=body)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise Unauthenticated("the signature does not match", reason_code="invalid_signature")
    # Checked after the signature, so only the provider learns that its clock is off.
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        raise Unauthenticated(
            f"the timestamp is more than {MAX_AGE_SECONDS} seconds away from now",
            reason_code="timestamp_expired",
        )
