"""Everything held about one debtor, as JSON-ready data (`python -m backend.cli debtor export`).

The rows are found by following foreign keys from the debtor: its contacts, debts and every
row that points at one of them (plans, installments, promises, payments, claims, disputes,
scores, log entries...), so a table added later is exported without changing this module.
Log texts are opened with their owner's key ("[erased]" after an erasure); key material is
never exported.
"""

from __future__ import annotations

import base64
import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session

from backend.debtors.models import Debtor
from backend.enums import Actor
from backend.interactions.models import Interaction
from backend.interactions.service import record
from backend.models import Base
from backend.privacy import keys
from backend.privacy.models import DebtorKey

FORMAT = "acordo.personal-data-export/1"
# Not information about the person: the keys that seal their texts.
_NOT_EXPORTED = {DebtorKey.__tablename__}
_MAX_ROUNDS = 10  # foreign-key chains here are at most three links long


def export(*, db_session: Session, debtor: Debtor, now: datetime, actor_ref: str) -> dict:
    """The debtor's data; the export itself is logged (who asked, not what was given)."""
    tables = _rows_owned_by(db_session, debtor.id)
    interactions = tables.pop(Interaction.__tablename__, [])
    cache: dict = {}
    for row in interactions:
        row["text"] = keys.open_text(db_session=db_session, sealed=row["text"], cache=cache)
    [debtor_row] = tables.pop(Debtor.__tablename__)
    data = {
        "format": FORMAT,
        "exported_at": now.isoformat(),
        "debtor": _jsonable(debtor_row),
        "records": {
            name: [_jsonable(row) for row in rows] for name, rows in sorted(tables.items())
        },
        "interactions": [_jsonable(row) for row in interactions],
    }
    record(
        db_session=db_session,
        event="personal_data.exported",
        actor=Actor.SYSTEM,
        actor_ref=actor_ref,
        debtor_id=debtor.id,
    )
    db_session.commit()
    return data


def _rows_owned_by(db_session: Session, debtor_id: int) -> dict[str, list[dict[str, Any]]]:
    """The debtor's row and every row reachable from it backwards along foreign keys."""
    debtors = Base.metadata.tables[Debtor.__tablename__]
    found: dict[str, dict[Any, dict[str, Any]]] = {
        debtors.name: _select(db_session, debtors, [debtors.c.id == debtor_id])
    }
    for _ in range(_MAX_ROUNDS):
        grew = False
        for table in Base.metadata.sorted_tables:
            if table.name in _NOT_EXPORTED:
                continue
            conditions = [
                fk.parent.in_([key[0] for key in found[fk.column.table.name]])
                for fk in table.foreign_keys
                if found.get(fk.column.table.name) and fk.column.name == "id"
            ]
            if not conditions:
                continue
            rows = _select(db_session, table, conditions)
            known = found.setdefault(table.name, {})
            if rows.keys() - known.keys():
                known.update(rows)
                grew = True
        if not grew:
            break
    return {name: [rows[key] for key in sorted(rows)] for name, rows in found.items() if rows}


def _select(db_session: Session, table: Table, conditions: list) -> dict[Any, dict[str, Any]]:
    query = select(table).where(or_(*conditions))
    return {
        tuple(row._mapping[column.name] for column in table.primary_key): dict(row._mapping)
        for row in db_session.execute(query)
    }


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {name: _value(value) for name, value in row.items()}


def _value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
