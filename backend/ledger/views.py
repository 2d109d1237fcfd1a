"""The ledger of one of a verified debtor's debts: every entry that explains its balance.

Debt detail, so it is served as the other debt routes are (`backend/debts/views.py`): under
the contact's path, for a verified contact, for their own debt only.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel

from backend.db import SessionDep
from backend.debts import service as debts
from backend.deps import Now, OwnDebtDep
from backend.ledger import service as ledger
from backend.ledger.models import EntryKind
from backend.money import to_decimal

router = APIRouter(prefix="/contacts/{channel}/{external_id}/debts/{reference}", tags=["debts"])


# One ledger entry as the debtor may see it (signed: positive adds to what is owed).
class LedgerEntryRead(BaseModel):
    kind: EntryKind
    amount: Decimal
    effective_date: date
    period_start: date | None
    period_end: date | None


# A debt's balance explained: its entries, their totals by kind, and the balance they sum to.
class LedgerRead(BaseModel):
    reference: str
    currency: str
    outstanding: Decimal
    accrued_through: date | None
    totals: dict[EntryKind, Decimal]
    entries: list[LedgerEntryRead]


@router.get("/ledger", response_model=LedgerRead)
def debt_ledger(debt: OwnDebtDep, db_session: SessionDep, now: Now) -> LedgerRead:
    if not ledger.is_open(db_session=db_session, debt=debt):
        # A debt created before it had a ledger is opened on first sight.
        debts.lock_for_update(db_session=db_session, debt=debt)
        ledger.open_debt(db_session=db_session, debt=debt, now=now)
        db_session.commit()
    statement = ledger.balance_explained(db_session=db_session, debt=debt)
    money = lambda minor: to_decimal(minor, debt.currency)  # noqa: E731
    return LedgerRead(
        reference=debt.reference,
        currency=debt.currency,
        outstanding=money(debt.outstanding_minor),
        accrued_through=debt.accrued_through,
        totals={kind: money(total) for kind, total in statement.totals.items()},
        entries=[
            LedgerEntryRead(
                kind=entry.kind,
                amount=money(entry.amount_minor),
                effective_date=entry.effective_date,
                period_start=entry.period_start,
                period_end=entry.period_end,
            )
            for entry in statement.entries
        ],
    )
