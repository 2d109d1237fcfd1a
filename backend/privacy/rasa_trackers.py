"""Forgetting a person's conversations in Rasa's tracker store.

Rasa keeps every conversation it had (texts, slots, entities) in its own SQL tracker store
(`bot/endpoints.yml`, `ACORDO_TRACKER_STORE_URL`), outside the backend's encrypted log. An
erasure deletes those conversations too: Rasa's `events` table holds one row per event, keyed
by the sender id the gateway gives Rasa (`<channel>:<external id>`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

# Rasa's SQLAlchemy 1.4 takes plain `postgresql://` (psycopg2); this environment has psycopg 3.
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def _app_url(tracker_store_url: str) -> str:
    url = make_url(tracker_store_url)
    driver = _DRIVERS.get(url.drivername)
    return (
        url.set(drivername=driver).render_as_string(hide_password=False)
        if driver
        else (tracker_store_url)
    )


def forget_conversations(*, tracker_store_url: str, sender_ids: Iterable[str]) -> int:
    """Delete every tracker event of these senders; how many rows went."""
    senders = sorted(set(sender_ids))
    if not senders:
        return 0
    engine = create_engine(_app_url(tracker_store_url), connect_args={})
    try:
        if not inspect(engine).has_table("events"):
            return 0  # Rasa has not stored anything yet
        with engine.begin() as connection:
            deleted = 0
            for sender in senders:
                deleted += connection.execute(
                    text("DELETE FROM events WHERE sender_id = :sender"), {"sender": sender}
                ).rowcount
            if engine.dialect.name == "sqlite":
                connection.execute(text("PRAGMA secure_delete = ON"))
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                connection.execute(text("VACUUM"))
        return deleted
    finally:
        engine.dispose()
