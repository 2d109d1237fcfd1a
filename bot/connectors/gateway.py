"""The channel gateway's connector: Rasa's REST channel, plus the metadata the gateway sends.

The gateway (backend service) posts `{"sender", "message", "metadata"}` to
`/webhooks/gateway/webhook` and receives the bot's messages in the response. The metadata
carries the channel, the detected language, what the gateway knows of the sender, and the
turn's `request_id`; the actions read it from `tracker.latest_message["metadata"]`.

Each turn is logged as one `rasa.turn` line (logger `acordo.rasa`): its request id, its whole
duration, the time spent understanding the message (`nlu_ms`) and waiting on the action
server (`actions_ms`, `action_calls`). Rasa configures its own logging, so this logger has a
handler of its own and does not propagate. The two timings come from wrappers put, once, on
`MessageProcessor.parse_message` and `RemoteAction.run`; should a Rasa upgrade rename either,
a warning says so and the turn is logged without that part.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.request import Request

METADATA_KEY = "request_id"
# As the backend accepts them (backend/observability/context.py): anything else is dropped.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{8,64}")


@dataclass
class TurnTimes:
    nlu_seconds: float = 0.0
    actions_seconds: float = 0.0
    action_calls: int = 0


_turn_var: ContextVar[TurnTimes | None] = ContextVar("acordo_rasa_turn", default=None)


def request_id_of(metadata: Any) -> str | None:
    candidate = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    if isinstance(candidate, str) and _WELL_FORMED.fullmatch(candidate):
        return candidate
    return None


class _Lines(logging.Formatter):
    """The fields of backend/observability/logs.py, as JSON or (`ACORDO_LOG_FORMAT=text`) text."""

    def __init__(self, text: bool) -> None:
        super().__init__()
        self.text = text

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                "T", "milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "service": "rasa",
            "request_id": getattr(record, "request_id", None),
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if not self.text:
            return json.dumps(fields, default=str)
        head = " ".join(str(fields.pop(key)) for key in ("ts", "level", "service", "logger"))
        request_id, message = fields.pop("request_id"), fields.pop("message")
        rest = "".join(f" {key}={value}" for key, value in fields.items())
        return f"{head} [{request_id or '-'}] {message}{rest}"


def _turn_logger() -> logging.Logger:
    logger = logging.getLogger("acordo.rasa")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        text = os.environ.get("ACORDO_LOG_FORMAT", "json").strip().lower() == "text"
        handler.setFormatter(_Lines(text))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


log = _turn_logger()


def _add_time(method: Callable[..., Awaitable[Any]], record: Callable[[TurnTimes, float], None]):
    @functools.wraps(method)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            times = _turn_var.get()
            if times is not None:
                record(times, time.perf_counter() - started)

    timed.acordo_timed = True
    return timed


def _add_nlu(times: TurnTimes, seconds: float) -> None:
    times.nlu_seconds += seconds


def _add_action(times: TurnTimes, seconds: float) -> None:
    times.actions_seconds += seconds
    times.action_calls += 1


def _time_method(module_name: str, class_name: str, method_name: str, record) -> None:
    try:
        module = __import__(module_name, fromlist=[class_name])
        owner = getattr(module, class_name)
        method = getattr(owner, method_name)
    except (ImportError, AttributeError):
        log.warning("not timed: %s.%s.%s is missing", module_name, class_name, method_name)
        return
    if getattr(method, "acordo_timed", False):
        return
    if not inspect.iscoroutinefunction(method):
        log.warning("not timed: %s.%s is not a coroutine", class_name, method_name)
        return
    setattr(owner, method_name, _add_time(method, record))


_time_method("rasa.core.processor", "MessageProcessor", "parse_message", _add_nlu)
_time_method("rasa.core.actions.action", "RemoteAction", "run", _add_action)


def _log_turn(request_id: str | None, seconds: float, times: TurnTimes) -> None:
    log.info(
        "turn %.1fms",
        seconds * 1000,
        extra={
            "request_id": request_id,
            "fields": {
                "event": "rasa.turn",
                "duration_ms": round(seconds * 1000, 3),
                "nlu_ms": round(times.nlu_seconds * 1000, 3),
                "actions_ms": round(times.actions_seconds * 1000, 3),
                "action_calls": times.action_calls,
            },
        },
    )


class GatewayInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "gateway"

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        body = request.json or {}
        metadata = body.get("metadata")
        return metadata if isinstance(metadata, dict) else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def timed_turn(message: UserMessage) -> None:
            times = TurnTimes()
            token = _turn_var.set(times)
            started = time.perf_counter()
            try:
                await on_new_message(message)
            finally:
                _turn_var.reset(token)
                _log_turn(request_id_of(message.metadata), time.perf_counter() - started, times)

        return super().blueprint(timed_turn)
