"""Validate the action server's answers the way Rasa does, at a fraction of the cost.

Rasa 3.6 checks every answer of the action server with `jsonschema.validate` against
`RemoteAction.action_response_format_spec()`. That call checks the schema itself against the
meta-schema on every call, then tries each event against all 23 alternatives of the events'
`oneOf`. Measured on our stack it was the largest single cost of a turn: about half of Rasa's
time per message (30 of 57 profiled seconds over 84 turns; 15-45 ms per action call).

The alternatives are told apart by their `event` constant, so at most one can ever match:
validating each event against the one alternative its `event` names, with validators built
once, accepts and refuses exactly what the `oneOf` does. Errors are the same
`jsonschema.ValidationError`, with Rasa's hint appended, so Rasa handles them as before.

`install()` replaces `RemoteAction._validate_action_result`; it is called when Rasa imports
the gateway connector (`connectors/__init__.py`).
"""

from __future__ import annotations

import logging
from typing import Any

from jsonschema import Draft7Validator, ValidationError
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.utils.schemas.events import EVENT_SCHEMA

log = logging.getLogger(__name__)

_HINT = (
    ". Failed to validate Action server response from API, make sure your response from the "
    f"Action endpoint is valid. For more information about the format visit "
    f"{DOCS_BASE_URL}/custom-actions"
)


def _event_name(alternative: dict[str, Any]) -> str:
    return alternative["properties"]["event"]["const"]


_COMMON_EVENT = {key: value for key, value in EVENT_SCHEMA.items() if key != "oneOf"}
_BY_EVENT = {
    _event_name(alternative): Draft7Validator({"allOf": [_COMMON_EVENT, alternative]})
    for alternative in EVENT_SCHEMA["oneOf"]
}
_ENVELOPE = Draft7Validator(
    {
        "type": "object",
        "properties": {
            "events": {"type": "array", "items": {"type": "object"}},
            "responses": {"type": "array", "items": {"type": "object"}},
        },
    }
)


def validate_action_response(result: Any) -> None:
    """Raise `ValidationError` when `result` is not a valid answer of an action server."""
    _raise_first(_ENVELOPE, result)
    for event in result.get("events") or []:
        name = event.get("event")
        validator = _BY_EVENT.get(name) if isinstance(name, str) else None
        if validator is None:
            error = ValidationError(f"{name!r} is not a known event")
            error.message += _HINT
            raise error
        _raise_first(validator, event)


def _raise_first(validator: Draft7Validator, instance: Any) -> None:
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        error.message += _HINT
        raise error


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    validate_action_response(result)
    return True


def install() -> None:
    """Make every `RemoteAction` validate with the validators built here (idempotent)."""
    spec = RemoteAction.action_response_format_spec()
    if spec.get("properties", {}).get("events", {}).get("items") is not EVENT_SCHEMA:
        # Another Rasa version with another schema: keep Rasa's own validation.
        log.warning("Rasa's action response schema changed; keeping its own validation")
        return
    RemoteAction._validate_action_result = _validate_action_result
