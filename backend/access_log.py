"""An access log without personal data, the request id and the HTTP metrics.

Each request gets its id from `X-Request-ID` when well formed, else a new one
(backend/observability/context.py); it is echoed in the response and set for everything the
request logs. After the response, one `http.request` line: method, route template, status,
duration, and the time and number of SQL statements the request ran; and the same figures in
the Prometheus metrics (backend/observability/metrics.py).

uvicorn's own access log prints each request's client address, path and query string, and
paths here carry phone numbers, chat ids and web chat session ids
(`/api/v1/contacts/whatsapp/5511999990000/summary`). `AccessLog` writes instead one line per
request with the route the request matched, as declared
(`/api/v1/contacts/{channel}/{external_id}/summary`), or `(unmatched)`; never the path, the
query, the body or the address. `silence_uvicorn_access_log` drops uvicorn's lines, however
uvicorn was started (`python -m uvicorn` in the Procfile logs them by default).

The logger is a child of uvicorn's "uvicorn" logger so that its lines go wherever uvicorn's
go, without a logging configuration of its own. Scrapes of `/metrics` are neither logged nor
counted: one every few seconds would drown the rest.
"""

from __future__ import annotations

import logging
import re
import time
import weakref
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.observability.context import REQUEST_ID_HEADER, accept_request_id, request_id_var
from backend.observability.metrics import HOP_SECONDS, HTTP_REQUESTS, HTTP_SECONDS
from backend.observability.timing import DbStats, counting_statements

ACCESS_LOGGER = "uvicorn.requests"
UNMATCHED = "(unmatched)"
METRICS_PATH = "/metrics"
API_PREFIX = "/api/v1"

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
        request_id = accept_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        status = 500  # what the server answers when the app fails before responding

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            with counting_statements() as db_stats:
                await self.app(scope, receive, send_noting_status)
        finally:
            if scope.get("path") != METRICS_PATH:
                _record(scope, status, time.perf_counter() - started, db_stats)
            request_id_var.reset(token)


def _record(scope: Scope, status: int, seconds: float, db_stats: DbStats) -> None:
    method, route = scope["method"], route_template(scope)
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_SECONDS.labels(method=method, route=route).observe(seconds)
    if route.startswith(API_PREFIX):
        HOP_SECONDS.labels(hop="backend_api").observe(seconds)
    if db_stats.queries:
        HOP_SECONDS.labels(hop="database").observe(db_stats.seconds)
    log.info(
        "%s %s %d %.1fms",
        method,
        route,
        status,
        seconds * 1000,
        extra={
            "event": "http.request",
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "db_ms": db_stats.ms,
            "db_queries": db_stats.queries,
        },
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
