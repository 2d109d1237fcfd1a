"""The production profile: the whole stack on one machine, on PostgreSQL and Redis.

    python -m deploy.profile up [--folder var/production]      (or ./run production)

Starts, in `folder`: a PostgreSQL cluster (`pg/`: the backend's database `acordo` and Rasa's
tracker store `acordo_rasa`), Redis (`redis/`: Rasa's lock store, so that several Rasa
instances serve one bot without two of them handling one conversation's turns at once), the
backend (uvicorn with several workers on one port), the action server (several Sanic
workers), several Rasa instances, the scheduler and several reminder senders sharing the
outbox. Secrets are generated once into `secrets.env`; logs go to `logs/`.

An existing PostgreSQL or Redis is used instead of the local one when `up` finds
`DATABASE_URL` and `ACORDO_TRACKER_STORE_URL`, or `ACORDO_REDIS_URL`
(redis://:password@host:port/db), in its environment.

Tests drive the same code through `ProductionStack`, a context manager that can kill and
restart any one service.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from deploy import secrets as production_secrets
from deploy.postgres import LocalPostgres
from deploy.processes import Service, ServiceFailed, free_port, wait_all_healthy
from deploy.redis import redis_service, wait_ready

REPO = Path(__file__).resolve().parent.parent
VENVS = Path(os.environ.get("ACORDO_VENVS", REPO / ".venvs"))
if not VENVS.is_absolute():
    VENVS = REPO / VENVS
RASA_PYTHON = VENVS / "rasa" / "bin" / "python"
APP_PYTHON = Path(sys.executable)
BACKEND_DATABASE = "acordo"
TRACKER_DATABASE = "acordo_rasa"
REDIS_LOCK_DB = 1
# Rasa's SQL tracker store pools 50 + 100 connections per instance by default; a turn needs one.
RASA_SQL_POOL = {"SQL_POOL_SIZE": "5", "SQL_MAX_OVERFLOW": "10"}
MIGRATE_TIMEOUT = 300
SEED_TIMEOUT = 600


@dataclass
class ProductionConfig:
    """What to start and where. A port of 0 means any free port (tests)."""

    folder: Path = REPO / "var" / "production"
    model: Path = REPO / "bot" / "models" / "acordo.tar.gz"
    backend_workers: int = 2
    action_workers: int = 2
    rasa_instances: int = 2
    senders: int = 2
    scheduler: bool = True
    seed_demo: bool = True  # load the demo data into a new database
    reset_demo: bool = False  # drop everything and load the demo data again
    backend_port: int = 8000
    action_port: int = 5055
    rasa_port: int = 5005  # the first instance's; the next ones count up from it
    postgres_port: int = 5433
    redis_port: int = 6380
    # An existing PostgreSQL (SQLAlchemy URLs) or Redis (redis://:password@host:port/db).
    database_url: str | None = None
    tracker_store_url: str | None = None
    redis_url: str | None = None
    sender_lease_seconds: float = 60.0
    # Extra environment of every backend-side process, and of the senders only.
    env: dict[str, str] = field(default_factory=dict)
    sender_env: dict[str, str] = field(default_factory=dict)
    rasa_start_timeout: float = 300.0


class ProductionStack:
    """Starts everything on enter, stops everything on exit; services by name."""

    def __init__(self, config: ProductionConfig) -> None:
        if bool(config.database_url) != bool(config.tracker_store_url):
            raise ValueError("an existing PostgreSQL needs both database_url and tracker_store_url")
        self.config = config
        self.folder = config.folder.resolve()
        self.logs = self.folder / "logs"
        self.services: dict[str, Service] = {}
        self.postgres: LocalPostgres | None = None
        self.redis: Service | None = None
        self.secrets: dict[str, str] = {}
        self.database_url = config.database_url or ""
        self.tracker_store_url = config.tracker_store_url or ""
        self.redis_url = config.redis_url or ""
        self.backend_url = self.action_url = ""
        self.rasa_urls: list[str] = []

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> ProductionStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.secrets = production_secrets.load_or_create(self.folder / "secrets.env")
        self._start_postgres()
        self._start_redis()
        self._prepare_database()
        self._define_services()
        # Everything boots at once (Rasa takes the longest), then each is waited for.
        for service in self.services.values():
            service.start()
        wait_all_healthy(list(self.services.values()))

    def stop(self) -> None:
        """Stop every service, Redis and PostgreSQL; safe to call more than once."""
        for service in reversed(list(self.services.values())):
            service.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to a service and all its workers (SIGKILL: as if it crashed)."""
        self.services[name].kill(sig)

    def restart(self, name: str) -> Service:
        """Start a service again (after a kill or not) and wait until it serves."""
        return self.services[name].restart()

    # --- pieces ---------------------------------------------------------------------------

    def _start_postgres(self) -> None:
        if self.database_url:
            return
        port = self.config.postgres_port or free_port()
        password = self.secrets[production_secrets.POSTGRES_PASSWORD]
        self.postgres = LocalPostgres(self.folder / "pg", port=port, password=password).start()
        self.postgres.create_database(BACKEND_DATABASE)
        self.postgres.create_database(TRACKER_DATABASE)
        self.database_url = self.postgres.url(BACKEND_DATABASE)
        # Rasa's SQLAlchemy 1.4 with psycopg2; the backend converts it when it erases a debtor.
        self.tracker_store_url = self.postgres.url(TRACKER_DATABASE, driver="")

    def _start_redis(self) -> None:
        if self.redis_url:
            return
        port = self.config.redis_port or free_port()
        password = self.secrets[production_secrets.REDIS_PASSWORD]
        self.redis = redis_service(self.folder / "redis", port=port, password=password).start()
        wait_ready(port, password)
        self.redis_url = f"redis://:{password}@127.0.0.1:{port}/{REDIS_LOCK_DB}"

    def _prepare_database(self) -> None:
        """Migrations to head; the demo data when the database is new (or a reset is asked)."""
        new = not _has_migrations(self.database_url)
        self._run_once(["-m", "backend.cli", "migrate"], "migrate", MIGRATE_TIMEOUT)
        if self.config.reset_demo:
            self._run_once(["-m", "backend.cli", "seed", "--reset"], "seed", SEED_TIMEOUT)
            _forget_conversations(self.tracker_store_url)
        elif new and self.config.seed_demo:
            self._run_once(["-m", "backend.cli", "seed"], "seed", SEED_TIMEOUT)

    def _run_once(self, args: list[str], name: str, timeout: float) -> None:
        log_path = self.logs / f"{name}.log"
        with log_path.open("ab") as log:
            result = subprocess.run(
                [str(APP_PYTHON), *args],
                cwd=REPO,
                env={**os.environ, **self._backend_env()},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
            raise ServiceFailed(f"{name} failed ({result.returncode}):\n{tail}")

    def _backend_env(self) -> dict[str, str]:
        """What every backend-side process (API, scheduler, senders, CLI) is given."""
        own = (production_secrets.POSTGRES_PASSWORD, production_secrets.REDIS_PASSWORD)
        return {
            **{k: v for k, v in self.secrets.items() if k not in own},
            "ACORDO_ENVIRONMENT": "production",
            "DATABASE_URL": self.database_url,
            "ACORDO_TRACKER_STORE_URL": self.tracker_store_url,
            **self.config.env,
        }

    def _define_services(self) -> None:
        config = self.config
        backend_port = config.backend_port or free_port()
        action_port = config.action_port or free_port()
        rasa_ports = [
            (config.rasa_port + n) if config.rasa_port else free_port()
            for n in range(config.rasa_instances)
        ]
        self.backend_url = f"http://127.0.0.1:{backend_port}"
        self.action_url = f"http://127.0.0.1:{action_port}"
        self.rasa_urls = [f"http://127.0.0.1:{port}" for port in rasa_ports]
        backend_env = self._backend_env()
        redis = urlsplit(self.redis_url)

        for n, port in enumerate(rasa_ports, start=1):
            self._add(
                Service(
                    f"rasa-{n}",
                    [str(RASA_PYTHON), "-m", "rasa", "run", "--model", str(config.model)]
                    + ["--port", str(port), "--interface", "127.0.0.1"]
                    + ["--endpoints", "endpoints.production.yml"]
                    + ["--credentials", "credentials.yml"],
                    env={
                        "PYTHONPATH": str(REPO / "bot"),
                        "PYTHONWARNINGS": "ignore",
                        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
                        "RASA_TELEMETRY_ENABLED": "false",
                        "ACORDO_ACTION_ENDPOINT_URL": f"{self.action_url}/webhook",
                        "ACORDO_TRACKER_STORE_URL": self.tracker_store_url,
                        "ACORDO_REDIS_HOST": redis.hostname or "127.0.0.1",
                        "ACORDO_REDIS_PORT": str(redis.port or 6379),
                        "ACORDO_REDIS_PASSWORD": redis.password or "",
                        "ACORDO_REDIS_DB": redis.path.strip("/") or str(REDIS_LOCK_DB),
                        **RASA_SQL_POOL,
                    },
                    log_path=self.logs / f"rasa-{n}.log",
                    cwd=REPO / "bot",
                    health_url=f"http://127.0.0.1:{port}/",
                    start_timeout=config.rasa_start_timeout,
                )
            )
        metrics_dir = _empty_dir(self.folder / "run" / "prometheus-backend")
        self._add(
            Service(
                "backend",
                [str(APP_PYTHON), "-m", "uvicorn", "backend.main:app"]
                + ["--host", "127.0.0.1", "--port", str(backend_port)]
                + ["--workers", str(config.backend_workers), "--log-level", "warning"],
                env={
                    **backend_env,
                    "ACORDO_RASA_URL": ",".join(self.rasa_urls),
                    "ACORDO_PUBLIC_BASE_URL": self.backend_url,
                    "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                },
                log_path=self.logs / "backend.log",
                cwd=REPO,
                health_url=f"{self.backend_url}/health",
                start_timeout=120,
            )
        )
        self._add(
            Service(
                "actions",
                [str(RASA_PYTHON), "-m", "actions.server", "--port", str(action_port)],
                env={
                    "ACORDO_ENVIRONMENT": "production",
                    "ACORDO_BACKEND_URL": self.backend_url,
                    "ACORDO_SERVICE_TOKEN": backend_env["ACORDO_SERVICE_TOKEN"],
                    "ACTION_SERVER_SANIC_WORKERS": str(config.action_workers),
                    "PYTHONPATH": str(REPO),
                    "PYTHONWARNINGS": "ignore",
                    "PROMETHEUS_MULTIPROC_DIR": str(
                        _empty_dir(self.folder / "run" / "prometheus-actions")
                    ),
                    **config.env,
                },
                log_path=self.logs / "actions.log",
                cwd=REPO,
                health_url=f"{self.action_url}/health",
                start_timeout=120,
            )
        )
        if config.scheduler:
            self._add(
                Service(
                    "scheduler",
                    [str(APP_PYTHON), "-m", "backend.campaigns.scheduler"],
                    env=backend_env,
                    log_path=self.logs / "scheduler.log",
                    cwd=REPO,
                )
            )
        for n in range(1, config.senders + 1):
            self._add(
                Service(
                    f"sender-{n}",
                    [str(APP_PYTHON), "-m", "backend.gateway.sender"]
                    + ["--lease-seconds", str(config.sender_lease_seconds)],
                    env={**backend_env, **config.sender_env},
                    log_path=self.logs / f"sender-{n}.log",
                    cwd=REPO,
                )
            )

    def _add(self, service: Service) -> None:
        self.services[service.name] = service


def _has_migrations(database_url: str) -> bool:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(database_url, connect_args={"connect_timeout": 10})
    try:
        return inspect(engine).has_table("alembic_version")
    finally:
        engine.dispose()


def _forget_conversations(tracker_store_url: str) -> None:
    """After a demo reset, the conversations Rasa kept about the old data go too."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(tracker_store_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url, connect_args={"connect_timeout": 10})
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS events"))
    finally:
        engine.dispose()


def _empty_dir(path: Path) -> Path:
    # Prometheus's multiprocess files of a previous run would be counted again.
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# --- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.profile", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up",
        help="start the production profile until Ctrl-C",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    defaults = ProductionConfig()
    up.add_argument("--folder", type=Path, default=Path("var/production"), help="its files")
    up.add_argument("--model", type=Path, default=defaults.model, help="the trained Rasa model")
    for name, what in [
        ("backend_workers", "uvicorn workers of the backend"),
        ("action_workers", "Sanic workers of the action server"),
        ("rasa_instances", "Rasa servers"),
        ("senders", "reminder sender processes"),
        ("backend_port", "port of the backend"),
        ("action_port", "port of the action server"),
        ("rasa_port", "port of the first Rasa instance; the next ones count up"),
        ("postgres_port", "port of the local PostgreSQL"),
        ("redis_port", "port of the local Redis"),
    ]:
        option = f"--{name.replace('_', '-')}"
        up.add_argument(option, type=int, default=getattr(defaults, name), help=what)
    up.add_argument("--no-scheduler", action="store_true", help="another machine runs it")
    up.add_argument("--no-seed", action="store_true", help="no demo data in a new database")
    up.add_argument("--reset-demo", action="store_true", help="drop everything, seed again")
    args = parser.parse_args(argv)

    config = ProductionConfig(
        folder=args.folder,
        model=args.model.resolve(),
        backend_workers=args.backend_workers,
        action_workers=args.action_workers,
        rasa_instances=args.rasa_instances,
        senders=args.senders,
        scheduler=not args.no_scheduler,
        seed_demo=not args.no_seed,
        reset_demo=args.reset_demo,
        backend_port=args.backend_port,
        action_port=args.action_port,
        rasa_port=args.rasa_port,
        postgres_port=args.postgres_port,
        redis_port=args.redis_port,
        database_url=os.environ.get("DATABASE_URL") or None,
        tracker_store_url=os.environ.get("ACORDO_TRACKER_STORE_URL") or None,
        redis_url=os.environ.get("ACORDO_REDIS_URL") or None,
    )
    # Ctrl-C, and SIGTERM from a process manager, stop everything the same way (SIGINT too,
    # explicitly: a shell starting this in the background would have it ignored).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    print(f"production: starting in {config.folder} (logs in {config.folder / 'logs'})")
    try:
        with ProductionStack(config) as stack:
            _print_addresses(stack)
            _supervise(stack)
    except ServiceFailed as exc:
        print(f"production: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print("production: stopped")
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _print_addresses(stack: ProductionStack) -> None:
    where = "local" if stack.postgres else "existing"
    lines = [
        f"web chat        {stack.backend_url}/chat",
        f"staff console   {stack.backend_url}/console",
        f"backend API     {stack.backend_url}  ({stack.config.backend_workers} workers)",
        f"metrics         {stack.backend_url}/metrics  {stack.action_url}/metrics",
        f"action server   {stack.action_url}  ({stack.config.action_workers} workers)",
        *(f"rasa-{n}          {url}" for n, url in enumerate(stack.rasa_urls, start=1)),
        f"PostgreSQL      {where}: {_without_password(stack.database_url)}",
        f"Redis           {_without_password(stack.redis_url)}",
        f"secrets         {stack.folder / 'secrets.env'}",
        "Ctrl-C stops everything.",
    ]
    print("production: running\n  " + "\n  ".join(lines), flush=True)


def _supervise(stack: ProductionStack) -> None:
    """Start again any service that exits, as a process supervisor would."""
    while True:
        time.sleep(2)
        for service in stack.services.values():
            if not service.running:
                code = service.process.returncode if service.process else None
                print(f"production: {service.name} exited ({code}); starting it again", flush=True)
                service.stop()
                service.start()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


if __name__ == "__main__":
    sys.exit(main())
