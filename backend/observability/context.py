"""The request id of the turn being served, carried across gateway, Rasa, actions and backend.

The gateway gives each inbound turn an id (or keeps a well-formed one its caller sent in
`X-Request-ID`), sends it to Rasa in the message's metadata as `request_id`, the action server
sends it back in `X-Request-ID` on every backend call, and every JSON log line of every process
carries it, so one turn can be followed through all of them.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
# The key of the id in the metadata of a message sent to Rasa.
METADATA_KEY = "request_id"
# Ids are opaque and short; anything else a caller sends is replaced, never logged.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{8,64}")

request_id_var: ContextVar[str | None] = ContextVar("acordo_request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(candidate: str | None) -> str:
    """The caller's id when well formed, else a new one."""
    if candidate and _WELL_FORMED.fullmatch(candidate):
        return candidate
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()
