"""Fixtures: every database test runs on SQLite and on a real throwaway PostgreSQL."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import unquote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from backend.config import Settings, get_settings
from backend.contacts.signing import HEADER as CONTACT_SIGNATURE_HEADER
from backend.contacts.signing import sign_contact
from backend.db import get_db, make_engine, session_factory
from backend.deps import get_now
from backend.main import create_app
from backend.migrate import upgrade_to_head
from tests.payment_provider import PAYMENTS_WEBHOOK_SECRET
from tests.pg_server import PostgresUnavailable, ThrowawayPostgres

# Before anything reads the settings: the test suite runs with test secrets, which only the
# development and test environments accept.
os.environ["ACORDO_ENVIRONMENT"] = "test"

SERVICE_TOKEN = "test-service-token"


@pytest.fixture(scope="session")
def trained_model():
    """The Rasa model, trained first when its data or configuration changed (`./run train`)."""
    from tests.stack import REPO

    subprocess.run([str(REPO / "run"), "train"], check=True, timeout=1800, stdin=subprocess.DEVNULL)
    return REPO / "bot" / "models" / "acordo.tar.gz"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    try:
        server = ThrowawayPostgres().start()
    except PostgresUnavailable as exc:
        if os.environ.get("ACORDO_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    """A migrated SQLite file; each test gets a fresh copy of it."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    upgrade_to_head(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def postgres_engine(postgres_server) -> Iterator[Engine]:
    url = postgres_server.create_database("acordo_test")
    upgrade_to_head(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> Iterator[Engine]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("postgres_engine")
    yield engine
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def db_session(engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


@pytest.fixture
def settings(engine) -> Settings:
    return Settings(
        environment="test",
        database_url=engine.url.render_as_string(hide_password=False),
        service_token=SERVICE_TOKEN,
        payments_webhook_secret=PAYMENTS_WEBHOOK_SECRET,
    )


class Clock:
    """The time the API believes it is: today at 15:00 UTC unless a test sets another.

    At that hour it is the same calendar day in every demo time zone (São Paulo to Rome), so
    `date.today()` in a test is also the debtor's local today.
    """

    def __init__(self) -> None:
        self.fixed = datetime.combine(date.today(), time(15, 0), tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.fixed


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(engine, settings, clock):
    app = create_app()
    sessions = session_factory(engine)

    def test_db() -> Iterator[Session]:
        with sessions() as session:
            yield session

    app.dependency_overrides[get_db] = test_db
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_now] = clock.now
    return app


CONTACT_ROUTE = re.compile(r"^/api/v1/contacts/([^/]+)/([^/]+)")


def signing_contacts(settings: Settings):
    """A request hook that signs each contact route's contact, as the gateway does per turn."""

    def sign(request: httpx.Request) -> None:
        found = CONTACT_ROUTE.match(request.url.path)
        if found:
            request.headers[CONTACT_SIGNATURE_HEADER] = sign_contact(
                channel=unquote(found.group(1)),
                external_id=unquote(found.group(2)),
                secret=settings.contact_signing_secret,
                now=datetime.now(timezone.utc),
                ttl=timedelta(minutes=5),
            )

    return sign


@pytest.fixture
def client(app, settings) -> Iterator[TestClient]:
    """The action server's view of the API: its token, and each turn's contact signed."""
    with TestClient(app, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as client:
        client.event_hooks = {"request": [signing_contacts(settings)], "response": []}
        yield client


@pytest.fixture
def unsigned_client(app) -> Iterator[TestClient]:
    """The action server's token without the gateway's signature (a forged caller)."""
    with TestClient(app, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as client:
        yield client


@pytest.fixture
def anonymous_client(app) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client
