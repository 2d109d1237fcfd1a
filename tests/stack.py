"""Start the real services of the stack as subprocesses on free loopback ports, for tests.

Backend (app environment), action server and Rasa (Rasa environment): each is started with
its own command line, polled on its health route with a deadline, and stopped at teardown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from backend.migrate import upgrade_to_head
from backend.seed import seed
from deploy.processes import Service, free_port

REPO = Path(__file__).resolve().parent.parent
VENVS = Path(os.environ.get("ACORDO_VENVS", REPO / ".venvs"))
if not VENVS.is_absolute():
    VENVS = REPO / VENVS
RASA_PYTHON = VENVS / "rasa" / "bin" / "python"
SERVICE_TOKEN = "stack-service-token"
# The gateway's key for signing each turn's contact; tests that play the gateway sign with it.
CONTACT_SIGNING_SECRET = "stack-contact-signing-secret"


def start_backend(
    database_url: str, log_dir: Path, *, workers: int = 1, **extra_env: str
) -> tuple[Service, str]:
    """The backend under uvicorn; with several workers, their metrics shared in log_dir."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": database_url,
        "ACORDO_SERVICE_TOKEN": SERVICE_TOKEN,
        "ACORDO_CONTACT_SIGNING_SECRET": CONTACT_SIGNING_SECRET,
        "ACORDO_ENVIRONMENT": "test",
        # Every test conversation comes from 127.0.0.1: one address, many people.
        "ACORDO_WEBCHAT_RATE_LIMIT": "1000/minute",
        **extra_env,
    }
    if workers > 1:
        metrics_dir = log_dir / "backend-metrics"
        metrics_dir.mkdir(exist_ok=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    service = _service(
        "backend",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "backend.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        env,
        f"{url}/health",
        log_dir / "backend.log",
    )
    return service.wait_healthy(60), url


def start_action_server(
    backend_url: str, log_dir: Path, name: str = "actions", **extra_env: str
) -> tuple[Service, str]:
    """The action server as the Procfile runs it (`python -m actions.server`), on 127.0.0.1."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "ACORDO_BACKEND_URL": backend_url,
        "ACORDO_SERVICE_TOKEN": SERVICE_TOKEN,
        "ACORDO_ENVIRONMENT": "test",
        "ACORDO_BACKEND_TIMEOUT_SECONDS": "3",
        "PYTHONPATH": str(REPO),
        **extra_env,
    }
    service = _service(
        name,
        [str(RASA_PYTHON), "-m", "actions.server", "--port", str(port)],
        env,
        f"{url}/health",
        log_dir / f"{name}.log",
    )
    return service.wait_healthy(120), url


def start_rasa(
    model: Path, action_url: str, log_dir: Path, port: int | None = None
) -> tuple[Service, str]:
    """Rasa with the project's bot/endpoints.yml; its trackers in a SQLite file in log_dir."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "PYTHONPATH": str(REPO / "bot"),
        "ACORDO_ACTION_ENDPOINT_URL": f"{action_url}/webhook",
        "ACORDO_TRACKER_STORE_URL": f"sqlite:///{log_dir / 'rasa-trackers.sqlite3'}",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    }
    service = _service(
        "rasa",
        [
            str(RASA_PYTHON),
            "-m",
            "rasa",
            "run",
            "--model",
            str(model),
            "--port",
            str(port),
            "--interface",
            "127.0.0.1",
            "--endpoints",
            "endpoints.yml",
            "--credentials",
            "credentials.yml",
        ],
        env,
        f"{url}/",
        log_dir / "rasa.log",
        cwd=REPO / "bot",
    )
    return service.wait_healthy(300), url


def _service(
    name: str,
    command: list[str],
    env: dict[str, str],
    health_url: str,
    log_path: Path,
    *,
    cwd: Path = REPO,
) -> Service:
    return Service(
        name, command, env=env, log_path=log_path, cwd=cwd, health_url=health_url
    ).start()


@dataclass
class RunningStack:
    """The services of a seeded stack, for tests that need to act on one of them."""

    backend_url: str
    engine: Engine
    rasa: Service
    rasa_args: tuple[Path, str, Path, int]

    def restart_rasa(self) -> None:
        """Stop Rasa and start it again on the same port and tracker store."""
        self.rasa.stop()
        self.rasa = start_rasa(*self.rasa_args)[0]


@contextmanager
def seeded_stack(
    folder: Path, model: Path, *, backend_workers: int = 1, **backend_env: str
) -> Iterator[RunningStack]:
    """Backend on a fresh SQLite database with the demo seed, action server and Rasa.

    One backend worker is the demo's configuration (Procfile).

    Yields the running stack (backend URL, an engine on its database, Rasa); stops
    everything afterwards.
    """
    url = f"sqlite:///{folder / 'stack.sqlite3'}"
    upgrade_to_head(url)
    engine = create_engine(url)
    with Session(engine) as session:
        seed(db_session=session, now=datetime.now(timezone.utc))
    rasa_port = free_port()
    services: list[Service] = []
    stack: RunningStack | None = None
    try:
        backend, backend_url = start_backend(
            url,
            folder,
            workers=backend_workers,
            ACORDO_RASA_URL=f"http://127.0.0.1:{rasa_port}",
            ACORDO_RASA_TIMEOUT_SECONDS="120",
            **backend_env,
        )
        services.append(backend)
        actions, actions_url = start_action_server(backend_url, folder)
        services.append(actions)
        rasa_args = (model, actions_url, folder, rasa_port)
        stack = RunningStack(backend_url, engine, start_rasa(*rasa_args)[0], rasa_args)
        yield stack
    finally:
        if stack is not None:
            stack.rasa.stop()
        for service in reversed(services):
            service.stop()
        engine.dispose()
