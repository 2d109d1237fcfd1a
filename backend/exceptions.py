"""Domain errors, mapped to HTTP responses in one place (`backend.main`).

DomainError                     every error a client can act on; has a reason code
├── Unauthenticated             401: a webhook without a valid signature (or a stale one)
├── NotFound                    404: unknown debtor, contact, debt, plan
├── NotVerified                 403: the contact has not proved who they are (or it expired)
├── VerificationFailed          422: wrong document digits or birth date
├── VerificationLocked          423: too many failed attempts; a human or the e-mailed code helps
├── VerificationBackoff         429: a failure too recent to try again yet; says when to retry
├── Conflict                    409: the state does not allow it (active plan, key reuse...)
├── PolicyViolation             422: outside the negotiation policy; may carry counter-offers
├── InvalidRequest              422: well-formed but meaningless input (dates, amounts)
└── RateLimited                 429: too many requests from one address; says when to retry
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    reason_code = "domain_error"

    def __init__(self, message: str, *, reason_code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if reason_code:
            self.reason_code = reason_code
        self.details = details


class Unauthenticated(DomainError):
    status_code = 401
    reason_code = "unauthenticated"


class NotFound(DomainError):
    status_code = 404
    reason_code = "not_found"


class NotVerified(DomainError):
    status_code = 403
    reason_code = "identity_not_verified"


class VerificationFailed(DomainError):
    status_code = 422
    reason_code = "verification_failed"


class VerificationLocked(DomainError):
    status_code = 423
    reason_code = "verification_locked"


class VerificationBackoff(DomainError):
    status_code = 429
    reason_code = "verification_backoff"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds


class Conflict(DomainError):
    status_code = 409
    reason_code = "conflict"


class PolicyViolation(DomainError):
    status_code = 422
    reason_code = "policy_violation"


class InvalidRequest(DomainError):
    status_code = 422
    reason_code = "invalid_request"


class RateLimited(DomainError):
    status_code = 429
    reason_code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message, retry_after=retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds
