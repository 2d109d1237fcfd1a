"""What a verified debtor may see about themselves and their debts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.debtors.models import Debtor
from backend.debtors.schemas import DebtorSummary, DebtSummary
from backend.debts import service as debts
from backend.debts.models import Debt
from backend.money import to_decimal
from backend.plans.schemas import plan_read
from backend.promises.schemas import promise_read


def get_by_external_ref(*, db_session: Session, external_ref: str) -> Debtor | None:
    return db_session.scalars(select(Debtor).where(Debtor.external_ref == external_ref)).first()


def summary(*, db_session: Session, debtor: Debtor, now: datetime) -> DebtorSummary:
    today = debts.local_today(debtor, now)
    return DebtorSummary(
        debtor_id=debtor.id,
        first_name=debtor.full_name.split()[0],
        full_name=debtor.full_name,
        masked_document=debtor.masked_document,
        country=debtor.country,
        timezone=debtor.timezone,
        preferred_language=debtor.preferred_language,
        today=today,
        debts=[
            debt_summary(db_session=db_session, debt=debt, today=today) for debt in debtor.debts
        ],
    )


def debt_summary(*, db_session: Session, debt: Debt, today: date) -> DebtSummary:
    plan = debts.active_plan(db_session=db_session, debt=debt)
    promise = debts.active_promise(db_session=db_session, debt=debt)
    creditor = debt.creditor
    payment_url = (
        creditor.payment_url_template.format(reference=debt.reference)
        if creditor.payment_url_template
        else None
    )
    return DebtSummary(
        reference=debt.reference,
        product=debt.product,
        creditor=creditor,
        currency=debt.currency,
        principal=to_decimal(debt.principal_minor, debt.currency),
        fees=to_decimal(debt.fees_minor, debt.currency),
        interest=to_decimal(debt.interest_minor, debt.currency),
        outstanding=to_decimal(debt.outstanding_minor, debt.currency),
        due_date=debt.due_date,
        days_overdue=max((today - debt.due_date).days, 0),
        status=debt.status,
        payment_url=payment_url,
        active_plan=plan_read(plan) if plan else None,
        active_promise=promise_read(promise, debt.currency) if promise else None,
    )
