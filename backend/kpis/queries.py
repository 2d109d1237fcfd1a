"""Loading a KPI report's rows: a fixed number of set-based queries, whatever the portfolio.

`load` reads, for a period and optionally one creditor: the debts placed by the period's end
with their ledger balances at every boundary day (one aggregate query), their plans, the
handoffs, payments, conversations, verifications, resolved promises, CSAT scores and the
outbox's sent and suppressed messages. Nothing is read per debtor.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timezone

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.debts.models import Debt
from backend.feedback.models import CsatScore
from backend.gateway.models import OutboxMessage, OutboxStatus
from backend.handoffs.models import Handoff
from backend.interactions.models import Interaction
from backend.kpis.definitions import (
    UNKNOWN,
    ConversationRow,
    CsatRow,
    DebtRow,
    HandoffRow,
    KpiData,
    OutboxRow,
    PaymentRow,
    PlanRow,
    PromiseRow,
)
from backend.kpis.report import Period
from backend.ledger.models import LedgerEntry
from backend.payments.models import Payment
from backend.plans.models import Installment, PaymentPlan
from backend.promises.models import PromiseStatus, PromiseToPay

# The interaction-log events that open a conversation, and those that prove the right party.
MESSAGE_RECEIVED = "message.received"
RIGHT_PARTY_EVENTS = ("identity.verified", "telegram.linked", "webchat.linked")
OPENING_PREFIX = "opening:"


def moment(day: date) -> datetime:
    """The start of a UTC day."""
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def load(*, db_session: Session, period: Period, creditor_id: int | None = None) -> KpiData:
    since, until = moment(period.start), moment(period.end)
    handoffs = _handoffs(db_session, until, creditor_id)
    first_by_debt: dict[int, date] = {}
    first_by_debtor: dict[int, date] = {}
    for row in handoffs:
        day = row["queued_at"].date()
        for key, firsts in ((row["debt_id"], first_by_debt), (row["debtor_id"], first_by_debtor)):
            if key is not None and (key not in firsts or day < firsts[key]):
                firsts[key] = day
    in_period = [row for row in handoffs if since <= row["queued_at"] < until]
    return KpiData(
        debts=_debts(db_session, period, creditor_id, first_by_debt, first_by_debtor),
        payments=_payments(db_session, since, until, creditor_id),
        conversations=_conversations(db_session, since, until, creditor_id, in_period),
        promises=_promises(db_session, since, until, creditor_id),
        handoffs=[
            HandoffRow(
                day=row["queued_at"].date(),
                channel=row["channel"],
                segment=row["segment"] or UNKNOWN,
                reason=row["reason"],
                response_seconds=_response_seconds(row),
            )
            for row in in_period
        ],
        csat=_csat(db_session, since, until, creditor_id),
        outbox=_outbox(db_session, since, until, creditor_id),
    )


def _for_creditor(query, creditor_id: int | None, column):
    return query if creditor_id is None else query.where(column == creditor_id)


def _value(member) -> str:
    return getattr(member, "value", member) if member is not None else UNKNOWN


def _debts(
    db_session: Session,
    period: Period,
    creditor_id: int | None,
    first_by_debt: dict[int, date],
    first_by_debtor: dict[int, date],
) -> list[DebtRow]:
    boundaries = period.boundaries()
    opening = LedgerEntry.entry_key.startswith(OPENING_PREFIX)
    # One row per debt: the opening statement and its day, whether it has entries, and each
    # boundary's balance, all from one pass over the ledger.
    columns = [
        func.sum(case((opening, LedgerEntry.amount_minor), else_=0)).label("opening"),
        func.min(case((opening, LedgerEntry.effective_date), else_=None)).label("opened_on"),
        func.count(LedgerEntry.id).label("entries"),
    ]
    columns += [
        func.sum(case((LedgerEntry.effective_date < day, LedgerEntry.amount_minor), else_=0)).label(
            f"b{n}"
        )
        for n, day in enumerate(boundaries)
    ]
    ledger = select(LedgerEntry.debt_id, *columns).group_by(LedgerEntry.debt_id).subquery()
    query = (
        select(
            Debt.id,
            Debt.debtor_id,
            Debt.currency,
            Debt.status,
            Debt.created_at,
            Debt.due_date,
            Debt.outstanding_minor,
            Debtor.risk_segment,
            *[column for column in ledger.c if column.name != "debt_id"],
        )
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .outerjoin(ledger, ledger.c.debt_id == Debt.id)
    )
    query = _for_creditor(query, creditor_id, Debt.creditor_id)
    plans = _plans(db_session, period, creditor_id)
    rows = []
    for found in db_session.execute(query).mappings():
        # Placed when it entered the ledger (a demo's or an import's backdated opening) or
        # the portfolio, whichever came first.
        placed_on = found["created_at"].date()
        if found["opened_on"] is not None:
            placed_on = min(placed_on, _as_date(found["opened_on"]))
        if placed_on >= period.end:
            continue
        if found["entries"]:
            # PostgreSQL sums BIGINTs into NUMERIC: back to whole minor units.
            placed = int(found["opening"])
            balances = {day: int(found[f"b{n}"]) for n, day in enumerate(boundaries)}
        else:  # never opened in the ledger: its figures as they stand are all there is
            placed = found["outstanding_minor"]
            balances = {day: placed if placed_on < day else 0 for day in boundaries}
        firsts = [
            day
            for day in (first_by_debt.get(found["id"]), first_by_debtor.get(found["debtor_id"]))
            if day is not None
        ]
        rows.append(
            DebtRow(
                debt_id=found["id"],
                debtor_id=found["debtor_id"],
                segment=found["risk_segment"],
                currency=found["currency"],
                status=_value(found["status"]),
                placed_on=placed_on,
                placed_minor=placed,
                due_date=found["due_date"],
                balance_on=balances,
                plans=tuple(plans.get(found["id"], ())),
                first_handoff_on=min(firsts) if firsts else None,
            )
        )
    return rows


def _as_date(value) -> date:
    """A date from an aggregate: SQLite returns MIN over a CASE of dates as an ISO string."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _plans(db_session: Session, period: Period, creditor_id: int | None) -> dict[int, list]:
    unpaid_late = case(
        (Installment.paid_minor < Installment.amount_minor, Installment.late_since), else_=None
    )
    query = (
        select(
            PaymentPlan.debt_id,
            PaymentPlan.created_at,
            PaymentPlan.ended_at,
            func.min(unpaid_late).label("late_since"),
        )
        .join(Debt, Debt.id == PaymentPlan.debt_id)
        .outerjoin(Installment, Installment.plan_id == PaymentPlan.id)
        .where(PaymentPlan.created_at < moment(period.end))
        .group_by(PaymentPlan.id, PaymentPlan.debt_id, PaymentPlan.created_at, PaymentPlan.ended_at)
    )
    query = _for_creditor(query, creditor_id, Debt.creditor_id)
    plans: dict[int, list] = {}
    for debt_id, created_at, ended_at, late_since in db_session.execute(query):
        plans.setdefault(debt_id, []).append(
            PlanRow(
                created_on=created_at.date(),
                ended_on=ended_at.date() if ended_at else None,
                late_since=late_since,
            )
        )
    return plans


def _handoffs(db_session: Session, until: datetime, creditor_id: int | None) -> list[dict]:
    """Every handoff queued before the period's end.

    The period's own, and the earlier ones that tell whether a debt was ever in a person's
    hands (self-cure).
    """
    query = (
        select(
            Handoff.contact_id,
            Handoff.debt_id,
            Handoff.debtor_id,
            Handoff.reason,
            Handoff.queued_at,
            Handoff.assigned_at,
            Handoff.first_response_at,
            ChannelContact.channel,
            Debtor.risk_segment.label("segment"),
        )
        .join(ChannelContact, ChannelContact.id == Handoff.contact_id)
        .outerjoin(Debtor, Debtor.id == Handoff.debtor_id)
        .where(Handoff.queued_at < until)
    )
    query = _for_creditor(query, creditor_id, Debtor.creditor_id)
    rows = []
    for found in db_session.execute(query).mappings():
        row = dict(found)
        row["channel"] = _value(row["channel"])
        rows.append(row)
    return rows


def _response_seconds(row: dict) -> float | None:
    if row["assigned_at"] is None or row["first_response_at"] is None:
        return None
    return (row["first_response_at"] - row["queued_at"]).total_seconds()


def _payments(
    db_session: Session, since: datetime, until: datetime, creditor_id: int | None
) -> list[PaymentRow]:
    query = (
        select(
            Payment.debt_id,
            Payment.paid_at,
            Payment.amount_minor,
            Payment.overpaid_minor,
            Debt.currency,
            Debtor.risk_segment,
        )
        .join(Debt, Debt.id == Payment.debt_id)
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .where(Payment.paid_at >= since, Payment.paid_at < until)
    )
    query = _for_creditor(query, creditor_id, Debt.creditor_id)
    return [
        PaymentRow(
            debt_id=debt_id,
            segment=segment,
            currency=currency,
            day=paid_at.date(),
            amount_minor=amount - (overpaid or 0),
        )
        for debt_id, paid_at, amount, overpaid, currency, segment in db_session.execute(query)
    ]


def _contact_days(
    db_session: Session,
    since: datetime,
    until: datetime,
    creditor_id: int | None,
    events: Iterable[str],
) -> dict[tuple[int, date], tuple[str, str]]:
    """The (contact, day) pairs with one of these events, with channel and segment."""
    query = (
        select(
            Interaction.contact_id,
            Interaction.occurred_at,
            ChannelContact.channel,
            Debtor.risk_segment,
        )
        .join(ChannelContact, ChannelContact.id == Interaction.contact_id)
        .outerjoin(Debtor, Debtor.id == ChannelContact.debtor_id)
        .where(
            Interaction.event.in_(list(events)),
            Interaction.occurred_at >= since,
            Interaction.occurred_at < until,
        )
    )
    query = _for_creditor(query, creditor_id, Debtor.creditor_id)
    days: dict[tuple[int, date], tuple[str, str]] = {}
    for contact_id, occurred_at, channel, segment in db_session.execute(query):
        days[(contact_id, occurred_at.date())] = (_value(channel), segment or UNKNOWN)
    return days


def _conversations(
    db_session: Session,
    since: datetime,
    until: datetime,
    creditor_id: int | None,
    handoffs: list[dict],
) -> list[ConversationRow]:
    received = _contact_days(db_session, since, until, creditor_id, [MESSAGE_RECEIVED])
    verified = _contact_days(db_session, since, until, creditor_id, RIGHT_PARTY_EVENTS)
    handed = {(row["contact_id"], row["queued_at"].date()) for row in handoffs}
    return [
        ConversationRow(
            contact_id=contact_id,
            day=day,
            channel=channel,
            segment=segment,
            verified=(contact_id, day) in verified,
            handed_off=(contact_id, day) in handed,
        )
        for (contact_id, day), (channel, segment) in sorted(received.items())
    ]


def _promises(
    db_session: Session, since: datetime, until: datetime, creditor_id: int | None
) -> list[PromiseRow]:
    query = (
        select(
            PromiseToPay.status, PromiseToPay.resolved_at, PromiseToPay.channel, Debtor.risk_segment
        )
        .join(Debt, Debt.id == PromiseToPay.debt_id)
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .where(
            PromiseToPay.status.in_([PromiseStatus.KEPT, PromiseStatus.BROKEN]),
            PromiseToPay.resolved_at >= since,
            PromiseToPay.resolved_at < until,
        )
    )
    query = _for_creditor(query, creditor_id, Debt.creditor_id)
    return [
        PromiseRow(
            day=resolved_at.date(),
            channel=_value(channel),
            segment=segment,
            kept=status == PromiseStatus.KEPT,
        )
        for status, resolved_at, channel, segment in db_session.execute(query)
    ]


def _csat(
    db_session: Session, since: datetime, until: datetime, creditor_id: int | None
) -> list[CsatRow]:
    query = (
        select(CsatScore.created_at, CsatScore.channel, CsatScore.score, Debtor.risk_segment)
        .outerjoin(Debtor, Debtor.id == CsatScore.debtor_id)
        .where(CsatScore.created_at >= since, CsatScore.created_at < until)
    )
    query = _for_creditor(query, creditor_id, Debtor.creditor_id)
    return [
        CsatRow(
            day=created_at.date(),
            channel=_value(channel),
            segment=segment or UNKNOWN,
            score=score,
        )
        for created_at, channel, score, segment in db_session.execute(query)
    ]


def _outbox(
    db_session: Session, since: datetime, until: datetime, creditor_id: int | None
) -> list[OutboxRow]:
    # A suppressed message is never touched again: its last update is its suppression.
    sent = and_(
        OutboxMessage.status == OutboxStatus.SENT,
        OutboxMessage.sent_at >= since,
        OutboxMessage.sent_at < until,
    )
    suppressed = and_(
        OutboxMessage.status == OutboxStatus.SUPPRESSED,
        OutboxMessage.updated_at >= since,
        OutboxMessage.updated_at < until,
    )
    query = (
        select(
            OutboxMessage.status,
            OutboxMessage.sent_at,
            OutboxMessage.updated_at,
            OutboxMessage.channel,
            OutboxMessage.kind,
            OutboxMessage.suppression_reason,
            Debtor.risk_segment,
        )
        .join(Debtor, Debtor.id == OutboxMessage.debtor_id)
        .where(or_(sent, suppressed))
    )
    query = _for_creditor(query, creditor_id, Debtor.creditor_id)
    rows = []
    for status, sent_at, updated_at, channel, kind, reason, segment in db_session.execute(query):
        was_sent = status == OutboxStatus.SENT
        rows.append(
            OutboxRow(
                day=(sent_at if was_sent else updated_at).date(),
                channel=_value(channel) if channel is not None else "none",
                segment=segment,
                kind=_value(kind),
                sent=was_sent,
                reason=None if was_sent else reason,
            )
        )
    return rows
