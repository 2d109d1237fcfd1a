"""The action server's logs and metrics: JSON lines with the turn's request id, `/metrics`.

The gateway puts each turn's id in the metadata of the message it sends to Rasa
(backend/observability/context.py); Rasa passes the tracker to the action server, whose
webhook middleware here reads `tracker.latest_message.metadata.request_id`, keeps it for the
action's run (`current_request_id()`, which `BackendClient` sends as `X-Request-ID`), and logs
one `action.run` line per action. `record_backend_call` logs one `backend.call` line per
backend call and adds its time to the running action's.

This runs in the Rasa environment and never imports the backend, so the line format is a copy
of backend/observability/logs.py (the same fields, the same `ACORDO_LOG_FORMAT` switch).
Metrics are kept per process, or in `PROMETHEUS_MULTIPROC_DIR` when it is set (several Sanic
workers); it must be set before the process starts.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import traceback
import zlib
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from pythonjsonlogger.json import JsonFormatter

SERVICE = "actions"
REQUEST_ID_HEADER = "X-Request-ID"
METADATA_KEY = "request_id"
WEBHOOK_PATH = "/webhook"
METRICS_PATH = "/metrics"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# As the backend accepts them: anything else is dropped, never logged.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{8,64}")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

ACTION_SECONDS = Histogram(
    "acordo_action_seconds", "One run of a custom action", ["action"], buckets=LATENCY_BUCKETS
)
BACKEND_CALL_SECONDS = Histogram(
    "acordo_backend_call_seconds",
    "One call of the action server to the backend, by BackendClient method",
    ["call"],
    buckets=LATENCY_BUCKETS,
)
BACKEND_CALL_ERRORS = Counter(
    "acordo_backend_call_errors",
    "Backend calls that failed: transport (no answer), http_5xx, http_4xx",
    ["call", "kind"],
)

request_id_var: ContextVar[str | None] = ContextVar("acordo_request_id", default=None)

log = logging.getLogger("acordo.actions")


@dataclass
class ActionStats:
    """Backend time and calls of the action being run."""

    backend_seconds: float = 0.0
    backend_calls: int = 0


_action_var: ContextVar[ActionStats | None] = ContextVar("acordo_action_stats", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def request_id_of(action_call: Any) -> str | None:
    """The request id in a webhook body (`tracker.latest_message.metadata`), when well formed."""
    try:
        candidate = action_call["tracker"]["latest_message"]["metadata"][METADATA_KEY]
    except (KeyError, TypeError):
        return None
    if isinstance(candidate, str) and _WELL_FORMED.fullmatch(candidate):
        return candidate
    return None


def action_name_of(action_call: Any) -> str:
    """The action a webhook body asks for, or `(unknown)`: only a plausible name is logged."""
    name = action_call.get("next_action") if isinstance(action_call, dict) else None
    return name if isinstance(name, str) and _NAME.fullmatch(name) else "(unknown)"


def error_kind(status: int | None) -> str | None:
    """How a backend call failed, for the error counter; None when it did not."""
    if status is None:
        return "transport"
    if status >= 500:
        return "http_5xx"
    if status >= 400:
        return "http_4xx"
    return None


def record_backend_call(call: str, method: str, status: int | None, seconds: float) -> None:
    """Count one backend call (its `BackendClient` method, HTTP method, status or None)."""
    BACKEND_CALL_SECONDS.labels(call=call).observe(seconds)
    kind = error_kind(status)
    if kind is not None:
        BACKEND_CALL_ERRORS.labels(call=call, kind=kind).inc()
    stats = _action_var.get()
    if stats is not None:
        stats.backend_seconds += seconds
        stats.backend_calls += 1
    log.info(
        "backend %s %s %s %.1fms",
        call,
        method,
        status,
        seconds * 1000,
        extra={
            "event": "backend.call",
            "call": call,
            "method": method,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        },
    )


# --- the Sanic app -------------------------------------------------------------------------


def _webhook_body(request: Any) -> Any:
    try:
        if request.headers.get("Content-Encoding") == "deflate":
            return json.loads(zlib.decompress(request.body))
        return request.json
    except (ValueError, zlib.error):
        return None


async def _before_webhook(request: Any) -> None:
    if request.path != WEBHOOK_PATH or request.method != "POST":
        return
    body = _webhook_body(request)
    request_id_var.set(request_id_of(body))
    stats = ActionStats()
    _action_var.set(stats)
    request.ctx.acordo_action = (action_name_of(body), stats, time.perf_counter())


async def _after_webhook(request: Any, response: Any) -> None:
    run = getattr(request.ctx, "acordo_action", None)
    if run is None:
        return
    action, stats, started = run
    seconds = time.perf_counter() - started
    ACTION_SECONDS.labels(action=action).observe(seconds)
    log.info(
        "action %s %d %.1fms",
        action,
        response.status if response is not None else 500,
        seconds * 1000,
        extra={
            "event": "action.run",
            "action": action,
            "status": response.status if response is not None else None,
            "duration_ms": round(seconds * 1000, 3),
            "backend_ms": round(stats.backend_seconds * 1000, 3),
            "backend_calls": stats.backend_calls,
        },
    )


class _ThisProcess:
    def collect(self):
        return REGISTRY.collect()


def exposition() -> tuple[bytes, str]:
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def install(app: Any) -> None:
    """Add the webhook middleware and `GET /metrics` to rasa-sdk's Sanic app."""
    from sanic import response

    app.register_middleware(_before_webhook, "request")
    app.register_middleware(_after_webhook, "response")

    async def metrics(_request: Any) -> Any:
        body, content_type = exposition()
        return response.raw(body, content_type=content_type)

    app.add_route(metrics, METRICS_PATH, methods=["GET"], name="acordo_metrics")


# --- log lines -----------------------------------------------------------------------------

_NOT_FIELDS = frozenset(
    [*logging.makeLogRecord({}).__dict__, "message", "asctime", "taskName", "color_message"]
)


def line_fields(record: logging.LogRecord, service: str) -> dict[str, Any]:
    """The fields of one line, common ones first, then the record's `extra`."""
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat("T", "milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "service": service,
        "request_id": getattr(record, "request_id", None),
        "message": record.getMessage(),
    }
    for key, value in record.__dict__.items():
        if key not in _NOT_FIELDS and not key.startswith("_") and key not in fields:
            fields[key] = value
    if record.exc_info and record.exc_info[0] is not None:
        # The type and frames only: an exception's message may quote what a person wrote.
        fields["error"] = record.exc_info[0].__name__
        fields["stack"] = traceback.format_tb(record.exc_info[2])
    return fields


class JsonLines(JsonFormatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        return self.serialize_log_record(line_fields(record, self.service))


class TextLines(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        fields = line_fields(record, self.service)
        head = [fields.pop(key) for key in ("ts", "level", "service", "logger")]
        request_id, message = fields.pop("request_id"), fields.pop("message")
        stack = fields.pop("stack", None)
        text = " ".join([*map(str, head), f"[{request_id or '-'}]", message])
        text += "".join(f" {key}={value}" for key, value in fields.items())
        return text + ("\n" + "".join(stack) if stack else "")


def _stamp_request_id(make_record):
    def make(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = current_request_id()
        return record

    make.stamps_request_id = True
    return make


class _AcordoHandler(logging.StreamHandler):
    """Marks the handler this module installed, so that configuring again replaces only it."""


def configure_logging(level: str = "INFO", service: str = SERVICE) -> None:
    """Every record to stderr as one line in the chosen format (idempotent)."""
    text = os.environ.get("ACORDO_LOG_FORMAT", "json").strip().lower() == "text"
    handler = _AcordoHandler(sys.stderr)
    handler.setFormatter(TextLines(service) if text else JsonLines(service))
    if not getattr(logging.getLogRecordFactory(), "stamps_request_id", False):
        logging.setLogRecordFactory(_stamp_request_id(logging.getLogRecordFactory()))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # A library's warning (sanic_cors on distutils) becomes a line like the others.
    logging.captureWarnings(True)
    # Sanic's loggers have handlers of their own: their lines go to the root's instead.
    for name in ("sanic.root", "sanic.error", "sanic.access"):
        sanic_logger = logging.getLogger(name)
        for existing in list(sanic_logger.handlers):
            sanic_logger.removeHandler(existing)
        sanic_logger.propagate = True
