"""SQLite for Rasa's tracker store the way the backend uses it: WAL mode, synced at checkpoints.

`./run demo` and the tests keep Rasa's conversations in a SQLite file. By default SQLite syncs
the file to disk at every commit, and Rasa commits once per turn: about 20 ms a turn on our
machines, for nothing a demo needs. In WAL mode with `synchronous=NORMAL` a power cut can lose
the last turns but never corrupts the file. Deployments keep the tracker store in PostgreSQL
(`bot/endpoints.production.yml`), which this does not touch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def install() -> None:
    """Tune every SQLite connection this process opens (idempotent)."""
    if not event.contains(Engine, "connect", _tune_sqlite):
        event.listen(Engine, "connect", _tune_sqlite)
