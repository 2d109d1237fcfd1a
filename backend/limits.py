"""Request limits of the public routes: body size for every route, a rate for the web chat.

Bodies: an ASGI middleware refuses a request whose Content-Length is over the limit with 413
before reading anything, and counts what a body without one (chunked) delivers, answering
413 as soon as it passes the limit, whatever the route was doing with it. Channel webhooks
(`/channels/...`) get the larger `max_webhook_body_bytes`, since their senders batch updates.

Rate: `limits`' moving window in memory, per client address, one per app. Behind a reverse
proxy, run uvicorn with `--proxy-headers --forwarded-allow-ips=<proxy>` so that the address is
the visitor's, not the proxy's.
"""

from __future__ import annotations

import json
import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.config import Settings, get_settings

WEBHOOK_PREFIX = "/channels/"


class BodyTooLarge(Exception):
    """The body delivered more bytes than the route accepts."""


def body_limit(*, path: str, settings: Settings) -> int:
    """The most bytes a request body to `path` may have."""
    if path.startswith(WEBHOOK_PREFIX):
        return settings.max_webhook_body_bytes
    return settings.max_body_bytes


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number; None when absent or unreadable."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodySizeLimit:
    """Answer 413 to bodies over the route's limit, declared or streamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Settings through the app's overrides, as the routes see them.
        app = scope["app"]
        settings = app.dependency_overrides.get(get_settings, get_settings)()
        limit = body_limit(path=scope["path"], settings=settings)
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(f"more than {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Once the body overflowed, whatever the route answers is replaced by the 413.
            if exceeded:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # A route may let BodyTooLarge through, or fail on the body it could not read.
            if not exceeded:
                raise
        if exceeded and not started:
            await _send_413(send, limit)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "detail": {
                "reason_code": "body_too_large",
                "message": f"request bodies are limited to {limit} bytes",
                "max_bytes": limit,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AddressRateLimiter:
    """At most `rate` requests per client address, over a moving window, in memory."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[str, RateLimitItem] = {}

    def hit(self, *, rate: str, address: str, scope: str) -> int | None:
        """Count one request: None if allowed, else the seconds until the address may retry."""
        item = self._items.get(rate) or self._items.setdefault(rate, parse(rate))
        if self._limiter.hit(item, scope, address):
            return None
        reset_at, _remaining = self._limiter.get_window_stats(item, scope, address)
        return max(1, math.ceil(reset_at - time.time()))
