"""One log line per record on stderr: a JSON object (default) or the same fields as text.

Every line carries `ts`, `level`, `logger`, `service`, `request_id` (None outside a turn or
request) and `message`, then whatever the call put in `extra=` (`event`, `duration_ms`...).
`ACORDO_LOG_FORMAT=text` prints the same fields for a person reading a terminal.

Exceptions are written as their type and the frames of their traceback, without their
message: the message of a database error holds the statement's parameters (phone numbers,
documents), and nothing here can tell those apart from harmless text.

uvicorn configures its loggers before it imports the app, each with a handler of its own;
`configure_logging` sends their records to the root handler instead, so that uvicorn's lines
are JSON too.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from datetime import datetime, timezone
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from backend.observability.context import current_request_id

LOG_FORMAT_ENV = "ACORDO_LOG_FORMAT"
LOG_LEVEL_ENV = "ACORDO_LOG_LEVEL"
# Record attributes that are never a field of the line: logging's own, and uvicorn's copy of
# its message with terminal colours.
_NOT_FIELDS = frozenset(
    [*logging.makeLogRecord({}).__dict__, "message", "asctime", "taskName", "color_message"]
)
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# HTTP clients log each request's full URL at INFO: Telegram's carries the bot token.
_URL_LOGGERS = ("httpx", "httpx2", "httpcore")


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
    """A log record factory that stamps each record with the request id of its moment."""

    def make(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = current_request_id()
        return record

    make.stamps_request_id = True
    return make


class _AcordoHandler(logging.StreamHandler):
    """Marks the handler this module installed, so that configuring again replaces only it."""


def configure_logging(service: str) -> None:
    """Send every record to stderr in the chosen format, tagged with `service` (idempotent)."""
    text = os.environ.get(LOG_FORMAT_ENV, "json").strip().lower() == "text"
    handler = _AcordoHandler(sys.stderr)
    handler.setFormatter(TextLines(service) if text else JsonLines(service))
    if not getattr(logging.getLogRecordFactory(), "stamps_request_id", False):
        logging.setLogRecordFactory(_stamp_request_id(logging.getLogRecordFactory()))
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, _AcordoHandler)]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(os.environ.get(LOG_LEVEL_ENV, "INFO").upper())
    for name in _URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in _UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        for existing in list(uvicorn_logger.handlers):
            uvicorn_logger.removeHandler(existing)
        uvicorn_logger.propagate = True
