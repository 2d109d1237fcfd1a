"""Settings of the action server, read from the environment once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class ActionSettings:
    backend_url: str
    service_token: str
    backend_timeout_seconds: float
    creditor_name: str


@lru_cache
def get_action_settings() -> ActionSettings:
    return ActionSettings(
        backend_url=os.environ.get("ACORDO_BACKEND_URL", "http://127.0.0.1:8000").rstrip("/"),
        service_token=os.environ.get("ACORDO_SERVICE_TOKEN", "dev-service-token"),
        backend_timeout_seconds=float(os.environ.get("ACORDO_BACKEND_TIMEOUT_SECONDS", "8")),
        # The creditor this deployment collects for, named before identity is verified.
        creditor_name=os.environ.get("ACORDO_CREDITOR_NAME", "Aurora Crédito"),
    )
