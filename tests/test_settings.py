"""Settings refuse the development secrets anywhere but development and the tests."""

from __future__ import annotations

import os
import subprocess

import pytest

from actions.config import InsecureSettings as InsecureActionSettings
from actions.config import load_action_settings
from backend.config import GENERATE_SECRET, InsecureSettings, Settings
from tests.stack import RASA_PYTHON, REPO

REAL = {
    "ACORDO_SERVICE_TOKEN": "s" * 43,
    "ACORDO_LINK_TOKEN_SECRET": "l" * 43,
    "ACORDO_PAYMENTS_WEBHOOK_SECRET": "p" * 43,
    "ACORDO_VERIFICATION_SECRET": "v" * 43,
    "ACORDO_DATA_KEY": "d" * 43,
    "ACORDO_CONTACT_SIGNING_SECRET": "c" * 43,
}
NOT_DEVELOPMENT = [None, "prod", "staging", "production", "Development", "local"]


@pytest.fixture
def environ(monkeypatch):
    """A clean environment: no ACORDO_ variable but those a test sets."""
    for name in list(os.environ):
        if name.startswith("ACORDO_"):
            monkeypatch.delenv(name)

    def set_environment(environment: str | None, **variables: str) -> None:
        if environment is not None:
            monkeypatch.setenv("ACORDO_ENVIRONMENT", environment)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_environment


@pytest.mark.parametrize("environment", NOT_DEVELOPMENT)
def test_the_backend_refuses_development_secrets_outside_development(environ, environment):
    environ(environment)

    with pytest.raises(InsecureSettings) as refused:
        Settings(_env_file=None)

    message = str(refused.value)
    for name in REAL:
        assert name in message
    assert GENERATE_SECRET in message
    assert "ACORDO_ENVIRONMENT=development" in message


@pytest.mark.parametrize("environment", NOT_DEVELOPMENT)
@pytest.mark.parametrize("missing", sorted(REAL))
def test_each_secret_must_be_set_outside_development(environ, environment, missing):
    environ(environment, **{name: value for name, value in REAL.items() if name != missing})

    with pytest.raises(InsecureSettings) as refused:
        Settings(_env_file=None)

    assert list(refused.value.problems) == [missing.removeprefix("ACORDO_").lower()]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACORDO_SERVICE_TOKEN", "short-token"),
        ("ACORDO_LINK_TOKEN_SECRET", "changeme"),
        ("ACORDO_TELEGRAM_WEBHOOK_SECRET", "changeme"),
    ],
)
def test_short_and_placeholder_secrets_are_refused_in_production(environ, variable, value):
    environ("production", **{**REAL, variable: value})

    with pytest.raises(InsecureSettings, match=variable):
        Settings(_env_file=None)


def test_real_secrets_load_in_production(environ):
    environ("production", **REAL)

    assert Settings(_env_file=None).service_token == "s" * 43


@pytest.mark.parametrize("environment", ["development", "test"])
def test_development_secrets_load_in_development(environ, environment):
    environ(environment)

    settings = Settings(_env_file=None)

    assert settings.service_token == "dev-service-token"
    assert settings.link_token_secret == "dev-link-secret"
    assert settings.payments_webhook_secret == "dev-payments-webhook-secret"


# --- the action server ----------------------------------------------------------------


@pytest.mark.parametrize("environment", NOT_DEVELOPMENT)
def test_the_action_server_refuses_the_development_token_outside_development(environment):
    environ = {} if environment is None else {"ACORDO_ENVIRONMENT": environment}

    with pytest.raises(InsecureActionSettings) as refused:
        load_action_settings(environ)

    assert "ACORDO_SERVICE_TOKEN" in str(refused.value)
    assert GENERATE_SECRET in str(refused.value)


def test_the_action_server_loads_a_real_token_in_production_and_the_dev_one_in_development():
    production = {"ACORDO_ENVIRONMENT": "production", "ACORDO_SERVICE_TOKEN": "s" * 43}

    assert load_action_settings(production).service_token == "s" * 43
    assert load_action_settings({"ACORDO_ENVIRONMENT": "development"}).host == "127.0.0.1"


def test_the_action_server_process_stops_with_the_reason():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "ACORDO_ENVIRONMENT": "staging"}

    result = subprocess.run(
        [str(RASA_PYTHON), "-m", "actions.server", "--port", "9"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )

    assert result.returncode == 1
    assert "ACORDO_SERVICE_TOKEN" in result.stderr
    assert GENERATE_SECRET in result.stderr
