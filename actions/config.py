"""Settings of the action server, read from the environment once.

As in the backend (`backend/config.py`), the development service token is refused unless
`ACORDO_ENVIRONMENT` is explicitly `development` or `test`. This module runs in the Rasa
environment, so it uses only the standard library.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

DEVELOPMENT_ENVIRONMENTS = frozenset({"development", "test"})
DEV_SERVICE_TOKEN = "dev-service-token"
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", DEV_SERVICE_TOKEN})
MIN_SECRET_CHARS = 32
GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class InsecureSettings(Exception):
    """The development service token (or a placeholder) outside development."""


@dataclass(frozen=True)
class ActionSettings:
    backend_url: str
    service_token: str
    backend_timeout_seconds: float
    creditor_name: str
    # The address the action server listens on: only Rasa, on the same machine, calls it.
    host: str = "127.0.0.1"


def load_action_settings(environ: dict[str, str]) -> ActionSettings:
    """Settings from `environ`; raises InsecureSettings for a development token in production."""
    environment = environ.get("ACORDO_ENVIRONMENT", "production")
    token = environ.get("ACORDO_SERVICE_TOKEN", DEV_SERVICE_TOKEN)
    if environment not in DEVELOPMENT_ENVIRONMENTS:
        problem = None
        if not token or token.lower() in PLACEHOLDER_SECRETS:
            problem = "is a development default or a placeholder; set the backend's token"
        elif len(token) < MIN_SECRET_CHARS:
            problem = f"is shorter than {MIN_SECRET_CHARS} characters"
        if problem:
            raise InsecureSettings(
                f"refusing to start with development secrets (ACORDO_ENVIRONMENT="
                f"{environment!r}):\n  ACORDO_SERVICE_TOKEN: {problem}\n"
                f"Generate it with:\n  {GENERATE_SECRET}\n(the same value as the backend's), "
                "or, on a developer's machine only, set ACORDO_ENVIRONMENT=development."
            )
    return ActionSettings(
        backend_url=environ.get("ACORDO_BACKEND_URL", "http://127.0.0.1:8000").rstrip("/"),
        service_token=token,
        backend_timeout_seconds=float(environ.get("ACORDO_BACKEND_TIMEOUT_SECONDS", "8")),
        # The creditor this deployment collects for, named before identity is verified.
        creditor_name=environ.get("ACORDO_CREDITOR_NAME", "Aurora Crédito"),
        host=environ.get("ACORDO_ACTIONS_HOST", "127.0.0.1"),
    )


@lru_cache
def get_action_settings() -> ActionSettings:
    return load_action_settings(dict(os.environ))
