"""ledger opening entries for existing debts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:00:00.000000

Every existing balance is explained in the ledger, as `backend.ledger.service.open_debt`
explains a new one: the principal, the fees and the interest the debt came with, an active
plan's discount and interest, and a payment for what must have been paid for the balance to
be what it is (or an adjustment, should it be above all that). The statement is dated the
debtor's local day the debt was created, and late interest accrues from the next day
(`accrued_through`). Debts already in the ledger are left alone. Downgrading deletes exactly
these entries (they carry MIGRATION_NOTE) and the accrual dates set here.
"""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import backend.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MIGRATION_NOTE = "opening statement (migration 0007)"
_BATCH = 500

_debts = sa.table(
    "debts",
    sa.column("id", sa.Integer),
    sa.column("debtor_id", sa.Integer),
    sa.column("principal_minor", sa.BigInteger),
    sa.column("fees_minor", sa.BigInteger),
    sa.column("interest_minor", sa.BigInteger),
    sa.column("outstanding_minor", sa.BigInteger),
    sa.column("accrued_through", sa.Date),
    sa.column("created_at", backend.db.UTCDateTime(timezone=True)),
)
_debtors = sa.table("debtors", sa.column("id", sa.Integer), sa.column("timezone", sa.String))
_plans = sa.table(
    "payment_plans",
    sa.column("id", sa.Integer),
    sa.column("debt_id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("discount_minor", sa.BigInteger),
    sa.column("interest_minor", sa.BigInteger),
    sa.column("created_at", backend.db.UTCDateTime(timezone=True)),
)
_entries = sa.table(
    "ledger_entries",
    sa.column("id", sa.Integer),
    sa.column("debt_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("amount_minor", sa.BigInteger),
    sa.column("effective_date", sa.Date),
    sa.column("entry_key", sa.String),
    sa.column("note", sa.String),
    sa.column("created_at", backend.db.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(timezone.utc)
    opened = sa.select(_entries.c.debt_id).where(_entries.c.entry_key == "opening:principal")
    after = 0
    while True:
        rows = bind.execute(
            sa.select(_debts, _debtors.c.timezone)
            .join(_debtors, _debtors.c.id == _debts.c.debtor_id)
            .where(_debts.c.id > after, _debts.c.id.not_in(opened))
            .order_by(_debts.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        plans = {
            plan.debt_id: plan
            for plan in bind.execute(
                sa.select(_plans).where(
                    _plans.c.debt_id.in_([row.id for row in rows]), _plans.c.status == "active"
                )
            )
        }
        values = []
        for row in rows:
            as_of = _local_day(row.created_at or now, row.timezone)
            values.extend(_opening(row, plans.get(row.id), as_of, now))
            if row.accrued_through is None:
                bind.execute(
                    sa.update(_debts).where(_debts.c.id == row.id).values(accrued_through=as_of)
                )
        bind.execute(sa.insert(_entries), values)


def _opening(debt, plan, as_of, now) -> list[dict]:
    def entry(kind, amount, key, day=as_of):
        return dict(
            debt_id=debt.id,
            kind=kind,
            amount_minor=amount,
            effective_date=day,
            entry_key=key,
            note=MIGRATION_NOTE,
            created_at=now,
        )

    entries = [entry("principal", debt.principal_minor, "opening:principal")]
    if debt.fees_minor:
        entries.append(entry("late_fee", debt.fees_minor, "opening:fees"))
    if debt.interest_minor:
        entries.append(entry("interest", debt.interest_minor, "opening:interest"))
    if plan is not None:
        agreed_on = _local_day(plan.created_at or now, debt.timezone)
        if plan.discount_minor:
            key = f"plan:{plan.id}:discount"
            entries.append(entry("discount", -plan.discount_minor, key, agreed_on))
        if plan.interest_minor:
            key = f"plan:{plan.id}:interest"
            entries.append(entry("interest", plan.interest_minor, key, agreed_on))
    explained = sum(e["amount_minor"] for e in entries)
    if explained > debt.outstanding_minor:
        paid = debt.outstanding_minor - explained
        entries.append(entry("payment", paid, "opening:paid"))
    elif explained < debt.outstanding_minor:
        extra = debt.outstanding_minor - explained
        entries.append(entry("adjustment", extra, "opening:adjustment"))
    return entries


def _local_day(moment: datetime, zone: str):
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo(zone)).date()


def downgrade() -> None:
    bind = op.get_bind()
    migrated = sa.select(_entries.c.debt_id).where(_entries.c.note == MIGRATION_NOTE)
    # The accrual dates this migration set: of debts whose ledger is only its entries.
    others = sa.select(_entries.c.debt_id).where(
        sa.or_(_entries.c.note.is_(None), _entries.c.note != MIGRATION_NOTE)
    )
    bind.execute(
        sa.update(_debts)
        .where(_debts.c.id.in_(migrated), _debts.c.id.not_in(others))
        .values(accrued_through=None)
    )
    bind.execute(sa.delete(_entries).where(_entries.c.note == MIGRATION_NOTE))
