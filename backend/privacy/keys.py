"""Sealing and opening the texts of the interaction log with their owner's key.

Writers call `seal_text` (through `backend.interactions.service.record`); readers call
`open_text` (through `backend.interactions.service.read_text`), which gives `ERASED` for a
text whose key was destroyed. The master key comes from the `ACORDO_DATA_KEY` setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.config import get_settings
from backend.privacy import crypto
from backend.privacy.models import DebtorKey

# What a reader gets for a text whose key was destroyed; also what is logged, instead of the
# text, about a person already erased.
ERASED = "[erased]"


class DataKeyMismatch(RuntimeError):
    """The keys in the database were wrapped with another ACORDO_DATA_KEY."""


@lru_cache(maxsize=4)
def _master(secret: str) -> bytes:
    return crypto.master_key(secret)


def master_key() -> bytes:
    return _master(get_settings().data_key)


def seal_text(
    *, db_session: Session, text: str, contact_id: int | None, debtor_id: int | None
) -> str:
    """The text sealed with its contact's key (or, without a contact, its debtor's).

    Creates the key the first time its owner has a text to seal.
    """
    key = _owner_key(db_session=db_session, contact_id=contact_id, debtor_id=debtor_id)
    if key.wrapped_key is None:  # the person was erased: nothing new is kept about them
        return ERASED
    return crypto.seal(_unwrap(key.wrapped_key), key.id, text)


def open_text(*, db_session: Session, sealed: str | None, cache: dict | None = None) -> str | None:
    """The plain text, or `ERASED` when its key was destroyed.

    `cache` (any dict the caller keeps) saves a query per key when reading many texts.
    """
    if sealed is None:
        return None
    key_id = crypto.sealed_key_id(sealed)
    if key_id is None:  # never sealed: a placeholder such as ERASED
        return sealed
    cache = {} if cache is None else cache
    if key_id not in cache:
        wrapped = db_session.scalar(select(DebtorKey.wrapped_key).where(DebtorKey.id == key_id))
        cache[key_id] = _unwrap(wrapped) if wrapped is not None else None
    data_key = cache[key_id]
    if data_key is None:
        return ERASED
    return crypto.open_sealed(data_key, sealed)


def destroy_keys(
    *, db_session: Session, debtor_id: int, contact_ids: Iterable[int], now: datetime
) -> int:
    """Destroy the debtor's key and its contacts' keys; returns how many were destroyed."""
    owners = [DebtorKey.debtor_id == debtor_id]
    contact_ids = list(contact_ids)
    if contact_ids:
        owners.append(DebtorKey.contact_id.in_(contact_ids))
    result = db_session.execute(
        update(DebtorKey)
        .where(or_(*owners), DebtorKey.wrapped_key.is_not(None))
        .values(wrapped_key=None, destroyed_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount


def _owner_key(*, db_session: Session, contact_id: int | None, debtor_id: int | None) -> DebtorKey:
    if contact_id is not None:
        owner = {"contact_id": contact_id}
    elif debtor_id is not None:
        owner = {"debtor_id": debtor_id}
    else:
        raise ValueError("a logged text must belong to a contact or a debtor")
    query = select(DebtorKey).filter_by(**owner)
    key = db_session.scalars(query).one_or_none()
    if key is not None:
        return key
    key = DebtorKey(**owner, wrapped_key=crypto.wrap(master_key(), crypto.new_data_key()))
    try:
        with db_session.begin_nested():
            db_session.add(key)
    except IntegrityError:  # created meanwhile by a concurrent message of the same owner
        key = db_session.scalars(query).one()
    return key


def _unwrap(wrapped: bytes) -> bytes:
    try:
        return crypto.unwrap(master_key(), wrapped)
    except crypto.CannotDecrypt as exc:
        raise DataKeyMismatch(
            "ACORDO_DATA_KEY does not open this database's keys: it is not the key they were "
            "made with"
        ) from exc
