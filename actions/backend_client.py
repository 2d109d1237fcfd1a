"""The action server's only way to the backend: HTTP with a service token and a timeout.

Transport failures and HTTP errors become typed exceptions here, in one place, so actions
branch on meaning (`NotVerified`, `PolicyRefusal`...) and never on status codes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from actions.backend_types import (
    CodeSent,
    Contact,
    DebtorSummary,
    KnowledgeAnswer,
    Passage,
    Plan,
    PlanAsk,
    Promise,
    Quote,
    Terms,
)
from actions.config import ActionSettings, get_action_settings
from actions.observability import REQUEST_ID_HEADER, current_request_id, record_backend_call

log = logging.getLogger(__name__)


class BackendError(Exception):
    """The backend answered with an error; `reason_code` says which."""

    def __init__(self, status: int, reason_code: str, detail: dict[str, Any]) -> None:
        super().__init__(f"{status} {reason_code}")
        self.status = status
        self.reason_code = reason_code
        self.detail = detail


class BackendUnavailable(Exception):
    """The backend could not be reached, timed out or failed (5xx)."""


class NotFound(BackendError):
    pass


class NotVerified(BackendError):
    pass


class VerificationLocked(BackendError):
    pass


class Refused(BackendError):
    """409/422: the state of the debt or the policy does not allow the request."""


class TooSoon(BackendError):
    """429: wait `detail["retry_after_seconds"]` before trying again."""


_BY_STATUS = {
    403: NotVerified,
    404: NotFound,
    409: Refused,
    422: Refused,
    423: VerificationLocked,
    429: TooSoon,
}


class ContactNotSigned(BackendError):
    """The backend refused: this turn carries no valid signature of its contact."""


# The header that carries the gateway's signature of the turn's contact (see
# backend/contacts/signing.py): the backend serves a contact only with it.
CONTACT_SIGNATURE_HEADER = "X-Acordo-Contact"


class BackendClient:
    """Calls for one conversation: the sender is `<channel>:<external id>`.

    `contact_signature` is what the gateway signed into the message's metadata; build the
    client with `for_tracker` so that every call carries it.
    """

    def __init__(
        self,
        sender_id: str,
        settings: ActionSettings | None = None,
        *,
        contact_signature: str | None = None,
    ) -> None:
        channel, _, external_id = sender_id.partition(":")
        if not external_id:  # a sender that did not come through the gateway (rasa shell)
            channel, external_id = "webchat", sender_id
        self.settings = settings or get_action_settings()
        self.contact_path = f"/api/v1/contacts/{channel}/{external_id}"
        self.contact_signature = contact_signature

    @classmethod
    def for_tracker(cls, tracker: Any) -> BackendClient:
        """The client for the tracker's sender, with the signature of its latest message."""
        metadata = (tracker.latest_message or {}).get("metadata") or {}
        return cls(tracker.sender_id, contact_signature=metadata.get("contact_signature"))

    async def contact(self) -> Contact:
        return await self._request("contact", "GET", self.contact_path)

    async def verify(
        self, document_suffix: str, birth_date: str, client_address: str | None = None
    ) -> DebtorSummary | CodeSent:
        """The summary, or (202) `CodeSent` when the person must also type an e-mailed code."""
        body = {"document_suffix": document_suffix, "birth_date": birth_date}
        if client_address:
            body["client_address"] = client_address
        return await self._request("verify", "POST", f"{self.contact_path}/verification", body)

    async def verify_code(self, code: str) -> DebtorSummary:
        return await self._request(
            "verify_code", "POST", f"{self.contact_path}/verification/code", {"code": code}
        )

    async def summary(self) -> DebtorSummary:
        return await self._request("summary", "GET", f"{self.contact_path}/summary")

    async def set_language(self, language: str) -> None:
        await self._request(
            "set_language", "PUT", f"{self.contact_path}/language", {"language": language}
        )

    async def opt_out(self) -> None:
        await self._request("opt_out", "POST", f"{self.contact_path}/opt-out")

    async def escalate(self, reason: str) -> dict:
        """Ask for a person; `status` says "escalated", or "recorded" when settings keep it."""
        return await self._request(
            "escalate", "POST", f"{self.contact_path}/escalations", {"reason": reason}
        )

    async def csat(self, score: int) -> None:
        await self._request("csat", "POST", f"{self.contact_path}/csat", {"score": score})

    async def knowledge(self, question: str, language: str) -> KnowledgeAnswer:
        """General financial education; nothing about this person's debt."""
        query = urlencode({"q": question[:500], "language": language})
        return await self._request("knowledge", "GET", f"/api/v1/knowledge/search?{query}")

    async def knowledge_passage(self, passage_id: str) -> Passage | None:
        """One passage of a guide by its id ("en/prioritising-debts#2"); None when unknown."""
        path = f"/api/v1/knowledge/passages/{quote(passage_id, safe='')}"
        try:
            return await self._request("knowledge_passage", "GET", path)
        except NotFound:
            return None

    async def terms(self, reference: str) -> Terms:
        return await self._request("terms", "GET", f"{self._debt(reference)}/terms")

    async def quote(self, reference: str, ask: PlanAsk) -> Quote:
        return await self._request("quote", "POST", f"{self._debt(reference)}/quotes", ask)

    async def accept_plan(
        self, reference: str, ask: PlanAsk, quote: dict[str, str], idempotency_key: str
    ) -> Plan:
        """Agree a quoted plan: its ask with the quote's `quote_id` and `fingerprint`.

        When the balance or the policy moved since the quote, `Refused` with reason code
        `quote_changed` and the plans offered now in `detail["counter_offers"]`.
        """
        return await self._request(
            "accept_plan",
            "POST",
            f"{self._debt(reference)}/plans",
            {**ask, "quote_id": quote["quote_id"], "fingerprint": quote["fingerprint"]},
            headers={"Idempotency-Key": idempotency_key},
        )

    async def promise(self, reference: str, amount: str, promised_date: str) -> Promise:
        return await self._request(
            "promise",
            "POST",
            f"{self._debt(reference)}/promises",
            {"amount": amount, "promised_date": promised_date},
        )

    async def dispute(self, reference: str, reason: str, description: str | None) -> dict:
        return await self._request(
            "dispute",
            "POST",
            f"{self._debt(reference)}/disputes",
            {"reason": reason, "description": description},
        )

    async def payment_claim(self, reference: str, paid_on: str) -> dict:
        return await self._request(
            "payment_claim", "POST", f"{self._debt(reference)}/payment-claims", {"paid_on": paid_on}
        )

    def _debt(self, reference: str) -> str:
        return f"{self.contact_path}/debts/{reference}"

    async def _request(
        self,
        call: str,
        method: str,
        path: str,
        body: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One backend call, named `call` in the logs and metrics (never its path: ids)."""
        all_headers = {"Authorization": f"Bearer {self.settings.service_token}", **(headers or {})}
        if self.contact_signature:
            all_headers[CONTACT_SIGNATURE_HEADER] = self.contact_signature
        request_id = current_request_id()
        if request_id:
            all_headers[REQUEST_ID_HEADER] = request_id
        timeout = aiohttp.ClientTimeout(total=self.settings.backend_timeout_seconds)
        started = time.perf_counter()
        status = None
        try:
            async with shared_session().request(
                method,
                f"{self.settings.backend_url}{path}",
                json=body,
                headers=all_headers,
                timeout=timeout,
            ) as response:
                status = response.status
                payload = None if status == 204 else await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.warning("backend %s failed: %s", call, exc.__class__.__name__)
            raise BackendUnavailable(str(exc.__class__.__name__)) from exc
        finally:
            record_backend_call(call, method, status, time.perf_counter() - started)
        if status < 400:
            return payload
        if status >= 500 or status == 401:
            log.error("backend answered %s to %s", status, call)
            raise BackendUnavailable(f"HTTP {status}")
        detail = (payload or {}).get("detail") if isinstance(payload, dict) else None
        if not isinstance(detail, dict):
            detail = {"message": str(detail or "")}
        if detail.get("reason_code") == "contact_not_signed":
            log.error("backend refused an unsigned contact for %s", call)
            raise ContactNotSigned(status, "contact_not_signed", detail)
        error_class = _BY_STATUS.get(status, BackendError)
        raise error_class(status, detail.get("reason_code", "error"), detail)


# One keep-alive connection pool per event loop (one per Sanic worker), instead of a TCP
# connection and a new session for each call.
_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
# Concurrent calls kept open to the backend per worker; more wait for a free connection.
POOL_SIZE = 32


def shared_session() -> aiohttp.ClientSession:
    """The running loop's session to the backend, opened on first use."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        # Idle connections are dropped before uvicorn drops them (its keep-alive is 5 s), so a
        # call never goes out on a connection the backend is closing at that moment.
        connector = aiohttp.TCPConnector(limit=POOL_SIZE, keepalive_timeout=4)
        session = _sessions[loop] = aiohttp.ClientSession(connector=connector)
    return session


async def close_shared_session() -> None:
    """Close the running loop's session (the action server calls this when it stops)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()
