"""Builders for test data: sensible defaults, every field overridable."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.creditors.models import Creditor
from backend.debtors.models import Debtor, normalize_document
from backend.debts.models import Debt, DebtStatus
from backend.enums import Channel, Language, VerificationMode
from backend.negotiation.models import NegotiationPolicy

_numbers = itertools.count(1)


def creditor(db_session: Session, **overrides) -> Creditor:
    number = next(_numbers)
    values = dict(
        name="Aurora Crédito",
        legal_name="Aurora Crédito Financeiro S.A.",
        legal_id_kind="CNPJ",
        legal_id=f"11.222.333/{number:04d}-81",
        address="Av. Paulista, 1000, São Paulo - SP",
        country="BR",
        support_phone="+55 11 4000-1234",
        support_email="atendimento@aurora.example",
        support_url=None,
        payment_url_template="https://pay.example/d/{reference}",
        # Most API tests verify with the details alone; the tests of the e-mailed code ask for
        # the default (knowledge_and_code) explicitly.
        verification_mode=VerificationMode.KNOWLEDGE_ONLY,
    )
    values.update(overrides)
    created = Creditor(**values)
    db_session.add(created)
    db_session.flush()
    return created


def policy(db_session: Session, creditor: Creditor, **overrides) -> NegotiationPolicy:
    values = dict(
        creditor_id=creditor.id,
        risk_segment="medium",
        currency="BRL",
        max_installments=12,
        min_down_payment_pct=Decimal("10"),
        min_installment_minor=8000,
        max_plan_days=370,
        max_days_to_first_payment=10,
        max_settlement_discount_pct=Decimal("15"),
        plan_interest_monthly_pct=Decimal("1.99"),
        max_broken_promises=1,
    )
    values.update(overrides)
    created = NegotiationPolicy(**values)
    db_session.add(created)
    db_session.flush()
    return created


def debtor(db_session: Session, creditor: Creditor, **overrides) -> Debtor:
    number = next(_numbers)
    values = dict(
        creditor_id=creditor.id,
        external_ref=f"C-{number:05d}",
        full_name="Ana Souza",
        document_kind="CPF",
        document_number=normalize_document(f"123.456.{number:03d}-09"),
        birth_date=date(1988, 3, 14),
        phone=f"+55119876{number:05d}",
        email="ana@example.com",
        country="BR",
        timezone="America/Sao_Paulo",
        preferred_language=Language.PT_BR,
        risk_segment="medium",
        failed_verifications=0,
    )
    values.update(overrides)
    created = Debtor(**values)
    db_session.add(created)
    db_session.flush()
    return created


def debt(db_session: Session, debtor: Debtor, **overrides) -> Debt:
    number = next(_numbers)
    values = dict(
        reference=f"D-{number:05d}",
        debtor_id=debtor.id,
        creditor_id=debtor.creditor_id,
        product="Cartão de crédito",
        currency="BRL",
        principal_minor=200000,
        fees_minor=15090,
        interest_minor=30000,
        outstanding_minor=245090,
        due_date=date.today() - timedelta(days=45),
        status=DebtStatus.OVERDUE,
        late_interest_monthly_pct=Decimal("1"),
        late_fee_pct=Decimal("2"),
        version=0,
    )
    values.update(overrides)
    created = Debt(**values)
    db_session.add(created)
    db_session.flush()
    return created


def contact(db_session: Session, debtor: Debtor | None = None, **overrides) -> ChannelContact:
    values = dict(
        channel=Channel.WEBCHAT,
        external_id=f"web-{next(_numbers)}",
        debtor_id=debtor.id if debtor else None,
        failed_verifications=0,
    )
    values.update(overrides)
    created = ChannelContact(**values)
    db_session.add(created)
    db_session.flush()
    return created


def debtor_with_debt(db_session: Session, **debt_overrides) -> tuple[Debtor, Debt]:
    """A medium-risk Brazilian debtor owing R$ 2.450,90, with the medium BRL policy."""
    owner = creditor(db_session)
    policy(db_session, owner)
    person = debtor(db_session, owner)
    owed = debt(db_session, person, **debt_overrides)
    db_session.commit()
    return person, owed


# --- ledger, plans and payments (follow-up and payment tests) ---------------------------


def opened_debt(db_session: Session, now, **debt_overrides) -> tuple[Debtor, Debt]:
    """`debtor_with_debt`, its opening statement in the ledger as of `now`."""
    from backend.ledger import service as ledger

    person, owed = debtor_with_debt(db_session, **debt_overrides)
    ledger.open_debt(db_session=db_session, debt=owed, now=now)
    db_session.commit()
    return person, owed


def plan(db_session: Session, owed: Debt, schedule: list[tuple[date, int]], now, **overrides):
    """An active plan on the debt with these (due date, amount) installments, as agreed now.

    The debt is opened in the ledger first; the plan's discount or interest is whatever
    takes its balance to the schedule's total (posted like an agreed plan's).
    """
    from backend.debts import service as debts
    from backend.ledger import service as ledger
    from backend.negotiation.engine import PlanKind
    from backend.plans.models import Installment, PaymentPlan, PlanStatus

    ledger.open_debt(db_session=db_session, debt=owed, now=now)
    total = sum(amount for _, amount in schedule)
    values = dict(
        debt_id=owed.id,
        policy_id=debts.policy_for(db_session=db_session, debt=owed).id,
        status=PlanStatus.ACTIVE,
        kind=PlanKind.INSTALLMENTS,
        currency=owed.currency,
        balance_minor=owed.outstanding_minor,
        discount_minor=max(owed.outstanding_minor - total, 0),
        interest_minor=max(total - owed.outstanding_minor, 0),
        interest_monthly_pct=Decimal("0"),
        down_payment_minor=0,
        installment_count=len(schedule),
        total_minor=total,
        idempotency_key=f"plan-{next(_numbers)}",
        request_fingerprint="f" * 64,
        created_at=now,
        installments=[
            Installment(sequence=n, due_date=due, amount_minor=amount, paid_minor=0)
            for n, (due, amount) in enumerate(schedule, start=1)
        ],
    )
    values.update(overrides)
    created = PaymentPlan(**values)
    db_session.add(created)
    db_session.flush()
    ledger.post_plan_agreed(db_session=db_session, debt=owed, plan=created, now=now)
    owed.status = DebtStatus.IN_PLAN
    db_session.commit()
    return created


def promise(db_session: Session, owed: Debt, promised_date: date, amount_minor: int, **overrides):
    from backend.promises.models import PromiseStatus, PromiseToPay

    values = dict(
        debt_id=owed.id,
        amount_minor=amount_minor,
        paid_before_minor=0,
        promised_date=promised_date,
        status=PromiseStatus.ACTIVE,
    )
    values.update(overrides)
    created = PromiseToPay(**values)
    db_session.add(created)
    db_session.commit()
    return created
