"""Deterministic demo data for the four languages.

One creditor, policies for three risk segments, and debtors with current, overdue, disputed
and in-plan debts.

Four hand-written personas (listed in the README) are always the same; the other debtors come
from Faker with a fixed seed. Dates are relative to the day the seed runs, so the demo always
shows a realistic mix of due and overdue debts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.campaigns import cadence, contact_rules
from backend.contacts.models import ChannelContact
from backend.creditors.models import Creditor
from backend.debtors.models import Debtor, normalize_document
from backend.debts.models import Debt, DebtStatus
from backend.disputes import service as disputes
from backend.disputes.models import DisputeReason
from backend.disputes.schemas import DisputeCreate
from backend.enums import Channel, Language, VerificationMode
from backend.ledger import service as ledger
from backend.money import to_minor
from backend.negotiation.models import NegotiationPolicy
from backend.plans import service as plans
from backend.plans.schemas import PlanAsk, PlanCreate
from backend.staff.service import seed_demo_staff

SEED = 20261124
CREDITOR_LEGAL_ID = "11.222.333/0001-81"
# What the demo creditor asks of web-chat visitors (README, "Verification"): KNOWLEDGE_ONLY lets
# the four personas in with document suffix + birth date, as the web chat's dialogue does today;
# KNOWLEDGE_AND_CODE (the default for new creditors) adds the code e-mailed to the development
# mailbox. WhatsApp numbers on file and Telegram deep links never need the code.
DEMO_VERIFICATION_MODE = VerificationMode.KNOWLEDGE_ONLY

# (segment, currency): max installments, min down %, min installment, max plan days,
# max days to first payment, max settlement discount %, plan interest %/month, broken promises
POLICY_TABLE: dict[tuple[str, str], tuple] = {
    ("low", "BRL"): (24, "0", "50.00", 740, 15, "20", "1.49", 2),
    ("medium", "BRL"): (12, "10", "80.00", 370, 10, "15", "1.99", 1),
    ("high", "BRL"): (6, "20", "100.00", 190, 7, "10", "2.49", 0),
    ("low", "EUR"): (24, "0", "20.00", 740, 15, "20", "0.50", 2),
    ("medium", "EUR"): (12, "10", "30.00", 370, 10, "15", "0.80", 1),
    ("high", "EUR"): (6, "20", "50.00", 190, 7, "10", "1.00", 0),
    ("low", "USD"): (24, "0", "25.00", 740, 15, "20", "0.50", 2),
    ("medium", "USD"): (12, "10", "35.00", 370, 10, "15", "0.90", 1),
    ("high", "USD"): (6, "20", "50.00", 190, 7, "10", "1.25", 0),
}


@dataclass(frozen=True)
class Persona:
    external_ref: str
    full_name: str
    document_kind: str
    document: str
    birth_date: date
    phone: str
    email: str
    country: str
    timezone: str
    language: Language
    segment: str
    currency: str
    product: str
    principal: str
    fees: str
    interest: str
    days_past_due: int  # negative: due in the future


DEMO_PERSONAS = (
    Persona(
        "C-BR-0001",
        "Ana Souza",
        "CPF",
        "123.456.789-09",
        date(1988, 3, 14),
        "+5511987654321",
        "ana.souza@example.com.br",
        "BR",
        "America/Sao_Paulo",
        Language.PT_BR,
        "medium",
        "BRL",
        "Cartão de crédito",
        "2100.00",
        "150.90",
        "200.00",
        8,
    ),
    Persona(
        "C-ES-0001",
        "Lucía García",
        "DNI",
        "12345678Z",
        date(1990, 7, 2),
        "+34612345678",
        "lucia.garcia@example.es",
        "ES",
        "Europe/Madrid",
        Language.ES,
        "medium",
        "EUR",
        "Préstamo personal",
        "1100.00",
        "60.00",
        "120.00",
        3,
    ),
    Persona(
        "C-IT-0001",
        "Marco Rossi",
        "CF",
        "RSSMRC85T10H501Z",
        date(1985, 12, 10),
        "+393471234567",
        "marco.rossi@example.it",
        "IT",
        "Europe/Rome",
        Language.IT,
        "high",
        "EUR",
        "Prestito auto",
        "3200.00",
        "150.00",
        "250.00",
        16,
    ),
    Persona(
        "C-US-0001",
        "John Miller",
        "SSN",
        "123-45-6789",
        date(1979, 5, 21),
        "+12025550143",
        "john.miller@example.com",
        "US",
        "America/New_York",
        Language.EN,
        "low",
        "USD",
        "Credit card",
        "900.00",
        "35.00",
        "45.00",
        5,
    ),
)

FAKER_LOCALES = {
    Language.PT_BR: ("pt_BR", "BR", "America/Sao_Paulo", "BRL", "CPF", "Empréstimo pessoal"),
    Language.ES: ("es_ES", "ES", "Europe/Madrid", "EUR", "DNI", "Tarjeta de crédito"),
    Language.IT: ("it_IT", "IT", "Europe/Rome", "EUR", "CF", "Carta di credito"),
    Language.EN: ("en_US", "US", "America/Chicago", "USD", "SSN", "Personal loan"),
}


def seed(*, db_session: Session, now: datetime, extra_per_language: int = 3) -> Creditor:
    """Create the demo data once; running it again changes nothing."""
    # Before the early return, so that demo databases seeded earlier get the accounts too.
    seed_demo_staff(db_session)
    db_session.commit()
    existing = db_session.scalars(
        select(Creditor).where(Creditor.legal_id == CREDITOR_LEGAL_ID)
    ).one_or_none()
    if existing is not None:
        return existing
    creditor = Creditor(
        name="Aurora Crédito",
        legal_name="Aurora Crédito Financeiro S.A.",
        legal_id_kind="CNPJ",
        legal_id=CREDITOR_LEGAL_ID,
        address="Av. Paulista, 1000, 10º andar, Bela Vista, São Paulo - SP, 01310-100, Brasil",
        country="BR",
        support_phone="+55 11 4000-1234",
        support_email="atendimento@aurora-credito.example",
        support_url="https://aurora-credito.example/ajuda",
        payment_url_template="https://pay.aurora-credito.example/d/{reference}",
        verification_mode=DEMO_VERIFICATION_MODE,
    )
    db_session.add(creditor)
    db_session.flush()
    for (segment, currency), limits in POLICY_TABLE.items():
        db_session.add(_policy(creditor, segment, currency, limits))
    cadence.seed_defaults(db_session, creditor)
    contact_rules.seed_defaults(db_session)

    today = now.date()
    for persona in DEMO_PERSONAS:
        debtor = _debtor_from_persona(creditor, persona)
        db_session.add(debtor)
        db_session.flush()
        db_session.add(_debt_from_persona(creditor, debtor, persona, today))
        _add_whatsapp_contact(db_session, debtor)
    db_session.flush()

    rng = random.Random(SEED)
    created_extras: list[tuple[Debtor, Debt]] = []
    for language, (locale, country, tz, currency, kind, product) in FAKER_LOCALES.items():
        fake = Faker(locale)
        fake.seed_instance(SEED + len(created_extras))
        for index in range(extra_per_language):
            debtor, debt = _fake_debtor(
                fake, rng, creditor, language, country, tz, currency, kind, product, index, today
            )
            db_session.add(debtor)
            db_session.flush()
            debt.debtor_id = debtor.id
            db_session.add(debt)
            _add_whatsapp_contact(db_session, debtor)
            created_extras.append((debtor, debt))
    db_session.flush()
    # Every balance starts explained: its opening entries in the ledger.
    for debt in db_session.scalars(select(Debt).where(Debt.creditor_id == creditor.id)):
        ledger.open_debt(db_session=db_session, debt=debt, now=now)
    db_session.commit()

    # Some extras get the later lives of a debt, through the same services the API uses.
    for number, (_debtor, debt) in enumerate(created_extras):
        if number % 4 == 1:
            quoted = plans.quote(
                db_session=db_session, debt=debt, ask=PlanAsk(installments=3), now=now
            ).plan
            plans.accept(
                db_session=db_session,
                debt=debt,
                request=PlanCreate(
                    **quoted.ask.model_dump(),
                    quote_id=quoted.quote_id,
                    fingerprint=quoted.fingerprint,
                ),
                idempotency_key=f"seed-plan-{debt.reference}",
                channel=None,
                now=now,
            )
        elif number % 4 == 2:
            disputes.open_dispute(
                db_session=db_session,
                debt=debt,
                channel=None,
                now=now,
                dispute=DisputeCreate(
                    reason=DisputeReason.WRONG_AMOUNT, description="Seeded: the amount looks wrong."
                ),
            )
    return creditor


def _policy(creditor: Creditor, segment: str, currency: str, limits: tuple) -> NegotiationPolicy:
    count, down, minimum, days, first, discount, interest, broken = limits
    return NegotiationPolicy(
        creditor_id=creditor.id,
        risk_segment=segment,
        currency=currency,
        max_installments=count,
        min_down_payment_pct=Decimal(down),
        min_installment_minor=to_minor(minimum, currency),
        max_plan_days=days,
        max_days_to_first_payment=first,
        max_settlement_discount_pct=Decimal(discount),
        plan_interest_monthly_pct=Decimal(interest),
        max_broken_promises=broken,
    )


def _debtor_from_persona(creditor: Creditor, persona: Persona) -> Debtor:
    return Debtor(
        creditor_id=creditor.id,
        external_ref=persona.external_ref,
        full_name=persona.full_name,
        document_kind=persona.document_kind,
        document_number=normalize_document(persona.document),
        birth_date=persona.birth_date,
        phone=persona.phone,
        email=persona.email,
        country=persona.country,
        timezone=persona.timezone,
        preferred_language=persona.language,
        risk_segment=persona.segment,
        failed_verifications=0,
    )


def _debt_from_persona(creditor: Creditor, debtor: Debtor, persona: Persona, today: date) -> Debt:
    amounts = [
        to_minor(value, persona.currency)
        for value in (persona.principal, persona.fees, persona.interest)
    ]
    return Debt(
        reference=persona.external_ref.replace("C-", "D-"),
        debtor_id=debtor.id,
        creditor_id=creditor.id,
        product=persona.product,
        currency=persona.currency,
        principal_minor=amounts[0],
        fees_minor=amounts[1],
        interest_minor=amounts[2],
        outstanding_minor=sum(amounts),
        due_date=today - timedelta(days=persona.days_past_due),
        status=DebtStatus.OVERDUE if persona.days_past_due > 0 else DebtStatus.CURRENT,
        late_interest_monthly_pct=Decimal("1.000"),
        late_fee_pct=Decimal("2.000"),
        version=0,
    )


def _fake_debtor(
    fake: Faker,
    rng: random.Random,
    creditor: Creditor,
    language: Language,
    country: str,
    tz: str,
    currency: str,
    document_kind: str,
    product: str,
    index: int,
    today: date,
) -> tuple[Debtor, Debt]:
    provider = {"CPF": "cpf", "DNI": "nif", "CF": "ssn", "SSN": "ssn"}[document_kind]
    document = getattr(fake, provider)()
    ref = f"{country}-{index + 2:04d}"
    debtor = Debtor(
        creditor_id=creditor.id,
        external_ref=f"C-{ref}",
        full_name=f"{fake.first_name()} {fake.last_name()}",
        document_kind=document_kind,
        document_number=normalize_document(document),
        birth_date=fake.date_of_birth(minimum_age=21, maximum_age=75),
        phone=f"+{rng.randint(10**10, 10**11 - 1)}",
        email=fake.email(),
        country=country,
        timezone=tz,
        preferred_language=language,
        risk_segment=rng.choice(["low", "medium", "high"]),
        failed_verifications=0,
    )
    principal = rng.randint(200, 6000) * 100
    fees = rng.randint(0, 30) * 500
    interest = rng.randint(0, 40) * 700
    days_past_due = rng.choice([-20, -5, 10, 35, 90])
    debt = Debt(
        reference=f"D-{ref}",
        creditor_id=creditor.id,
        product=product,
        currency=currency,
        principal_minor=principal,
        fees_minor=fees,
        interest_minor=interest,
        outstanding_minor=principal + fees + interest,
        due_date=today - timedelta(days=days_past_due),
        status=DebtStatus.OVERDUE if days_past_due > 0 else DebtStatus.CURRENT,
        late_interest_monthly_pct=Decimal("1.000"),
        late_fee_pct=Decimal("2.000"),
        version=0,
    )
    return debtor, debt


def _add_whatsapp_contact(db_session: Session, debtor: Debtor) -> None:
    """WhatsApp finds a debtor by phone number (wa_id: digits only); verification still applies."""
    if debtor.phone:
        db_session.add(
            ChannelContact(
                channel=Channel.WHATSAPP,
                external_id=debtor.phone.lstrip("+"),
                debtor_id=debtor.id,
                language=debtor.preferred_language,
                failed_verifications=0,
            )
        )
