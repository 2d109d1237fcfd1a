"""The migrations build exactly the models' schema; the demo seed is deterministic and sound."""

from datetime import datetime, timezone

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from backend.debtors.models import Debtor
from backend.debts import service as debts
from backend.debts.models import Debt
from backend.migrate import alembic_config
from backend.models import Base
from backend.negotiation.engine import PlanKind, PlanProposal, ScheduledPayment, policy_violations
from backend.plans.models import PaymentPlan
from backend.seed import DEMO_PERSONAS, seed

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def test_migrations_match_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, Base.metadata) == []


def test_migrations_downgrade_and_upgrade_cleanly(engine):
    url = engine.url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(alembic_config(url), "head")
    assert "interactions" in inspect(engine).get_table_names()


def test_the_seed_is_deterministic_and_idempotent(db_session):
    seed(db_session=db_session, now=NOW)
    first = db_session.execute(
        select(Debt.reference, Debt.status, Debt.outstanding_minor).order_by(Debt.reference)
    ).all()
    seed(db_session=db_session, now=NOW)

    assert db_session.scalar(select(func.count()).select_from(Debtor)) == 16
    again = db_session.execute(
        select(Debt.reference, Debt.status, Debt.outstanding_minor).order_by(Debt.reference)
    ).all()
    assert again == first
    statuses = {row.status.value for row in first}
    assert {"overdue", "current", "disputed", "in_plan"} <= statuses
    languages = set(db_session.scalars(select(Debtor.preferred_language)))
    assert {language.value for language in languages} == {"pt_BR", "es", "it", "en"}


def test_seeded_plans_are_within_their_policies(db_session):
    seed(db_session=db_session, now=NOW)

    plans = db_session.scalars(select(PaymentPlan)).all()
    assert plans
    for plan in plans:
        debt = plan.debt
        proposal = PlanProposal(
            kind=PlanKind(plan.kind),
            currency=plan.currency,
            balance_minor=plan.balance_minor,
            discount_minor=plan.discount_minor,
            interest_minor=plan.interest_minor,
            down_payment_minor=plan.down_payment_minor,
            installment_count=plan.installment_count,
            schedule=tuple(
                ScheduledPayment(i.due_date, i.amount_minor, i.is_down_payment)
                for i in plan.installments
            ),
        )
        position = debts.position(db_session=db_session, debt=debt)
        position = position.__class__(
            **{
                **position.__dict__,
                "outstanding_minor": plan.balance_minor,
                "status": "overdue",
                "has_active_plan": False,
            }
        )
        policy = debts.policy_for(db_session=db_session, debt=debt).limits()
        today = plan.installments[0].due_date
        assert policy_violations(proposal, policy=policy, position=position, today=today) == []


def test_the_demo_personas_in_the_readme_can_verify(client, db_session, clock):
    clock.fixed = NOW
    seed(db_session=db_session, now=NOW)

    for persona in DEMO_PERSONAS:
        suffix = "".join(ch for ch in persona.document if ch.isalnum())[-4:]
        response = client.post(
            f"/api/v1/contacts/webchat/readme-{persona.external_ref}/verification",
            json={"document_suffix": suffix, "birth_date": persona.birth_date.isoformat()},
        )
        assert response.status_code == 200, persona.full_name
        assert response.json()["full_name"] == persona.full_name
