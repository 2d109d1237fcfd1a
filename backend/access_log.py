"""An access log without personal data: method, route template, status and duration.

uvicorn's own access log prints each request's client address, path and query string, and
paths here carry phone numbers, chat ids and web chat session ids
(`/api/v1/contacts/whatsapp/5511999990000/summary`). `AccessLog` writes instead one line per
request with the route the request matched, as declared
(`/api/v1/contacts/{channel}/{external_id}/summary`), or `(unmatched)`; never the path, the
query, the body or the address. `silence_uvicorn_access_log` drops uvicorn's lines, however
uvicorn was started (`python -m uvicorn` in the Procfile logs them by default).

The logger is a child of uvicorn's "uvicorn" logger so that its lines go wherever uvicorn's
go, without a logging configuration of its own.
"""

from __future__ import annotations

import logging
import re
import time
import weakref
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "uvicorn.requests"
UNMATCHED = "(unmatched)"

log = logging.getLogger(ACCESS_LOGGER)


class AccessLog:
    """ASGI middleware: one line per HTTP request, after the response was sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before responding

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            log.info(
                "%s %s %d %.1fms",
                scope["method"],
                route_template(scope),
                status,
                (time.perf_counter() - started) * 1000,
            )


def route_template(scope: Scope) -> str:
    """The declared path of the first route matching the request, with `{name}` parameters.

    Matched against the app's routes in the router's order, with their include prefixes
    (`/api/v1`); only ever a declared template or `UNMATCHED`, so no part of the request's
    own path can reach the log.
    """
    app = scope.get("app")
    path = scope.get("path", "")
    for regex, template in _templates(app) if app is not None else ():
        if regex.match(path):
            return template
    return UNMATCHED


_cache: weakref.WeakKeyDictionary[Any, list[tuple[re.Pattern[str], str]]] = (
    weakref.WeakKeyDictionary()
)


def _templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    if app not in _cache:
        routes = getattr(app, "routes", [])
        try:  # FastAPI ≥ 0.150 keeps included routers apart: their routes lack the prefix
            from fastapi.routing import iter_route_contexts

            routes = list(iter_route_contexts(routes))
        except ImportError:  # older FastAPI copies each included route with its full path
            pass
        _cache[app] = [
            (route.path_regex, route.path_format)
            for route in routes
            if getattr(route, "path_regex", None) is not None and route.path_format
        ]
    return _cache[app]


class _DropUvicornAccessLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def silence_uvicorn_access_log() -> None:
    """Drop uvicorn's own access lines (idempotent): `AccessLog` writes them without ids."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, _DropUvicornAccessLines) for existing in access.filters):
        access.addFilter(_DropUvicornAccessLines())
