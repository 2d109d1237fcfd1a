"""Many debtors at once, for the campaign tests: bulk-inserted with SQLAlchemy core.

Every debtor has one overdue debt (due three days ago on their local today: the medium
cadence's "overdue_gentle" level) and one channel contact, and belongs to a group that says
what the campaign must do with them: send on Telegram, send on WhatsApp (inside the 24-hour
window, or as a template outside it), or suppress for a stated reason once
`apply_suppressions` has put their debt or contact in that state.

Their time zone is the one where it is about noon when the test runs, under a contact rule
open all day on every day, so the compliance gate never defers them whatever the hour of the
test run (its time rules have their own frozen-clock tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select, update

from backend.campaigns import cadence
from backend.campaigns.models import ContactRule
from backend.contacts.models import ChannelContact
from backend.db import session_factory
from backend.debtors.models import Debtor
from backend.debts.models import Debt, DebtStatus
from backend.disputes.models import Dispute, DisputeReason, DisputeStatus
from backend.enums import Channel, Language
from backend.gateway import outbox
from backend.gateway.models import MessageKind
from backend.plans.models import Installment, PaymentPlan, PlanKind, PlanStatus
from backend.promises.models import PromiseStatus, PromiseToPay
from tests import factories

SENT_GROUPS = ("telegram", "whatsapp", "whatsapp_template")
# Group → the suppression reason the gate must record.
SUPPRESSED_GROUPS = {
    "opted_out": "opted_out",
    "dispute": "dispute_open",
    "paid": "debt_paid",
    "plan": "plan_in_good_standing",
    "promise": "promise_active",
    "erased": "debtor_erased",
}
COUNTRY = "BR"
OVERDUE_DAYS = 3  # the medium cadence's level 3 (+3 days, overdue_gentle)
LEVEL = 3


def noon_zone(now: datetime) -> str:
    """A fixed-offset zone where it is between 11:30 and 12:30 at `now`."""
    offset = 12 - round(now.hour + now.minute / 60)
    offset = offset if offset <= 14 else offset - 24
    offset = offset if offset >= -12 else offset + 24
    # POSIX sign convention: Etc/GMT-3 is three hours AHEAD of UTC.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


@dataclass
class World:
    creditor_id: int
    zone: str
    today: date  # the debtors' local today
    policy_id: int = 0  # their negotiation policy
    group_of: dict[int, str] = field(default_factory=dict)  # debtor id → group
    debt_of: dict[int, int] = field(default_factory=dict)  # debtor id → debt id
    address_of: dict[int, str] = field(default_factory=dict)  # debtor id → chat id or wa_id

    def debtors_in(self, *groups: str) -> list[int]:
        return [debtor for debtor, group in self.group_of.items() if group in groups]


def populate(engine: Engine, *, now: datetime, sizes: dict[str, int]) -> World:
    """Insert the debtors of each group (in interleaved order), their debts and contacts."""
    zone = noon_zone(now)
    today = now.astimezone(ZoneInfo(zone)).date()
    with session_factory(engine)() as db_session:
        creditor = factories.creditor(db_session)
        policy = factories.policy(db_session, creditor)
        cadence.seed_defaults(db_session, creditor)
        if db_session.scalar(select(ContactRule).where(ContactRule.country == COUNTRY)) is None:
            db_session.add(
                ContactRule(
                    country=COUNTRY,
                    window_start=time(0, 0),
                    window_end=time(23, 59),
                    excluded_weekdays=[],
                    skip_public_holidays=False,
                    max_per_day=1,
                    max_per_7_days=7,
                )
            )
        db_session.commit()
        world = World(creditor_id=creditor.id, zone=zone, today=today)
        world.policy_id = policy.id

    groups = _interleave(sizes)
    first_ref = _next_free(engine)
    with engine.begin() as connection:
        debtor_rows = [
            dict(
                creditor_id=world.creditor_id,
                external_ref=f"W-{first_ref + n:07d}",
                full_name="Ana Souza",
                document_kind="CPF",
                document_number=f"{first_ref + n:011d}",
                birth_date=date(1988, 3, 14),
                phone=None,
                email=None,
                country=COUNTRY,
                timezone=zone,
                preferred_language=Language.PT_BR,
                risk_segment="medium",
                failed_verifications=0,
                recovery_priority_minor=(n * 7919) % 100_000,
                created_at=now,
            )
            for n in range(len(groups))
        ]
        debtor_ids = _insert_ids(connection, Debtor, debtor_rows)
        debt_rows = [
            dict(
                reference=f"WD-{first_ref + n:07d}",
                debtor_id=debtor_id,
                creditor_id=world.creditor_id,
                product="Cartão de crédito",
                currency="BRL",
                principal_minor=200000,
                fees_minor=0,
                interest_minor=0,
                outstanding_minor=200000 + n,
                due_date=today - timedelta(days=OVERDUE_DAYS),
                status=DebtStatus.OVERDUE,
                late_interest_monthly_pct=Decimal("1"),
                late_fee_pct=Decimal("2"),
                version=0,
                created_at=now,
                updated_at=now,
            )
            for n, debtor_id in enumerate(debtor_ids)
        ]
        debt_ids = _insert_ids(connection, Debt, debt_rows)
        contact_rows = []
        for n, (debtor_id, group) in enumerate(zip(debtor_ids, groups, strict=True)):
            world.group_of[debtor_id] = group
            world.debt_of[debtor_id] = debt_ids[n]
            whatsapp = group.startswith("whatsapp")
            address = f"55119{first_ref + n:08d}" if whatsapp else str(7_000_000 + first_ref + n)
            world.address_of[debtor_id] = address
            contact_rows.append(
                dict(
                    channel=Channel.WHATSAPP if whatsapp else Channel.TELEGRAM,
                    external_id=address,
                    debtor_id=debtor_id,
                    language=Language.PT_BR,
                    verified_at=None,
                    failed_verifications=0,
                    linked_at=None if whatsapp else now - timedelta(days=3),
                    # Inside WhatsApp's 24-hour window unless the group says otherwise.
                    last_inbound_at=now - timedelta(hours=2)
                    if group != "whatsapp_template"
                    else now - timedelta(days=3),
                    opted_out_at=None,
                    created_at=now,
                )
            )
        connection.execute(insert(ChannelContact.__table__), contact_rows)
    return world


def queue_reminders(engine: Engine, world: World, *, now: datetime) -> int:
    """Queue this level's reminder of every debt directly (as the planner would)."""
    rows = [
        dict(
            dedupe_key=f"reminder:{debt_id}:{LEVEL}:{world.today.isoformat()}",
            kind=MessageKind.REMINDER,
            debtor_id=debtor_id,
            debt_id=debt_id,
            level=LEVEL,
            scheduled_for=world.today,
            not_before=now - timedelta(minutes=1),
            priority=0,
        )
        for debtor_id, debt_id in world.debt_of.items()
    ]
    with session_factory(engine)() as db_session:
        queued = outbox.enqueue_many(db_session, rows)
        db_session.commit()
    return queued


def apply_suppressions(engine: Engine, world: World, *, now: datetime) -> None:
    """Put each suppressed group's debt or contact in the state that must stop its message."""
    debts = {
        group: [world.debt_of[debtor] for debtor in world.debtors_in(group)]
        for group in SUPPRESSED_GROUPS
    }
    with engine.begin() as connection:
        connection.execute(
            update(ChannelContact.__table__)
            .where(ChannelContact.debtor_id.in_(world.debtors_in("opted_out")))
            .values(opted_out_at=now)
        )
        connection.execute(
            update(Debtor.__table__)
            .where(Debtor.id.in_(world.debtors_in("erased")))
            .values(erased_at=now)
        )
        connection.execute(
            update(Debt.__table__)
            .where(Debt.id.in_(debts["paid"]))
            .values(status=DebtStatus.PAID, outstanding_minor=0)
        )
        if debts["dispute"]:
            connection.execute(
                insert(Dispute.__table__),
                [
                    dict(
                        debt_id=debt_id,
                        reason=DisputeReason.WRONG_AMOUNT,
                        status=DisputeStatus.OPEN,
                        opened_at=now,
                    )
                    for debt_id in debts["dispute"]
                ],
            )
        if debts["promise"]:
            connection.execute(
                insert(PromiseToPay.__table__),
                [
                    dict(
                        debt_id=debt_id,
                        amount_minor=10000,
                        paid_before_minor=0,
                        promised_date=world.today + timedelta(days=5),
                        status=PromiseStatus.ACTIVE,
                        created_at=now,
                    )
                    for debt_id in debts["promise"]
                ],
            )
        if debts["plan"]:
            plan_ids = _insert_ids(
                connection,
                PaymentPlan,
                [
                    dict(
                        debt_id=debt_id,
                        policy_id=world.policy_id,
                        status=PlanStatus.ACTIVE,
                        kind=PlanKind.INSTALLMENTS,
                        currency="BRL",
                        balance_minor=200000,
                        discount_minor=0,
                        interest_minor=0,
                        interest_monthly_pct=Decimal("1.99"),
                        down_payment_minor=0,
                        installment_count=1,
                        total_minor=200000,
                        idempotency_key=f"world-plan-{debt_id}",
                        request_fingerprint="0" * 64,
                        created_at=now,
                    )
                    for debt_id in debts["plan"]
                ],
            )
            connection.execute(
                insert(Installment.__table__),
                [
                    dict(
                        plan_id=plan_id,
                        sequence=1,
                        is_down_payment=False,
                        due_date=world.today + timedelta(days=20),
                        amount_minor=200000,
                        paid_minor=0,
                    )
                    for plan_id in plan_ids
                ],
            )


def _interleave(sizes: dict[str, int]) -> list[str]:
    """Groups spread evenly (not in blocks), as a real portfolio would be."""
    total = sum(sizes.values())
    placed: list[tuple[float, str]] = []
    for group, size in sizes.items():
        placed += [((n + 0.5) * total / size, group) for n in range(size)]
    return [group for _, group in sorted(placed)]


def _insert_ids(connection, model, rows: list[dict]) -> list[int]:
    """Insert in chunks, returning the new ids in the rows' order."""
    table = model.__table__
    ids: list[int] = []
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        result = connection.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), chunk
        )
        ids += [row.id for row in result]
    return ids


def _next_free(engine: Engine) -> int:
    with engine.connect() as connection:
        return (connection.scalar(select(Debtor.id).order_by(Debtor.id.desc()).limit(1)) or 0) + 1
