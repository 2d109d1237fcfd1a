"""The backend alone (uvicorn, demo seed on SQLite) for the API benchmarks: quote, knowledge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from backend.contacts.signing import HEADER as CONTACT_SIGNATURE_HEADER
from backend.contacts.signing import sign_contact
from backend.migrate import upgrade_to_head
from backend.seed import seed
from tests.stack import CONTACT_SIGNING_SECRET, SERVICE_TOKEN, start_backend


@dataclass
class ApiBackend:
    url: str
    database_url: str

    def client(self) -> httpx.Client:
        """A keep-alive client with the action server's token."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}, timeout=60
        )


def contact_headers(channel: str, external_id: str) -> dict[str, str]:
    """The gateway's signature of this turn's contact, as the action server forwards it."""
    token = sign_contact(
        channel=channel,
        external_id=external_id,
        secret=CONTACT_SIGNING_SECRET,
        now=datetime.now(timezone.utc),
        ttl=timedelta(minutes=30),
    )
    return {CONTACT_SIGNATURE_HEADER: token}


@contextmanager
def running(folder: Path) -> Iterator[ApiBackend]:
    database_url = f"sqlite:///{folder / 'api.sqlite3'}"
    upgrade_to_head(database_url)
    engine = create_engine(database_url)
    with Session(engine) as session:
        seed(db_session=session, now=datetime.now(timezone.utc))
    engine.dispose()
    service, url = start_backend(database_url, folder)
    try:
        yield ApiBackend(url, database_url)
    finally:
        service.stop()
