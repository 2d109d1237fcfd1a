"""The planner: which cadence level each open debt is at today, queued in the outbox once.

For each cadence policy, each time zone its debtors live in (today differs per zone) and each
level, one indexed query (`debts(status, due_date)`) selects the open debts whose due date puts
them at that level on the debtor's local today: due in (today − offset of the next level,
today − offset of this level]; the last level has no upper bound. Each debt gets ONE row, for
its current level (`reminder:{debt_id}:{level}:{scheduled_for}`, scheduled_for = reference
date + offset): a debt that joins late never gets the backlog of earlier levels.

The reference date is the due date or, when the debt's last plan broke later, the debtor's
local day it broke: the debt re-enters the cadence from the start. Those debts are found by a
second small query per policy and zone (their due date says nothing about their level).

Batches of `batch_size` debts, in order of expected recovery (highest first), each with a
fixed number of statements: the selection, the insert-or-ignore, superseding older levels of
the same debts, and escalating those at a final level.

Several planners at once are safe: rows are inserted with ON CONFLICT DO NOTHING on their
dedupe key, superseding is a conditional UPDATE of still-pending rows, and escalation a
conditional UPDATE of debts not yet under review (the one that changed it records it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from backend.campaigns import contact_rules, gate
from backend.campaigns.cadence import list_policies
from backend.campaigns.models import DEFAULT_COUNTRY, CadencePolicy, CadenceStep, ContactRule
from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.debts.models import Debt, DebtStatus
from backend.enums import Actor
from backend.gateway import outbox
from backend.gateway.models import (
    DeliveryAttempt,
    DeliveryOutcome,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
)
from backend.handoffs import service as handoffs
from backend.interactions.service import record
from backend.plans.models import PaymentPlan, PlanStatus

log = logging.getLogger(__name__)

# Debts in a plan or disputed are the gate's business too, but need no reminder row at all.
OPEN_STATUSES = (DebtStatus.CURRENT, DebtStatus.OVERDUE)
ESCALATION_REASON = "cadence_final_level"


@dataclass
class PlanReport:
    """What one planning run did (counts only: it is logged)."""

    selected: int = 0  # debts looked at
    queued: int = 0  # new outbox rows
    superseded: int = 0  # older levels of the same debts no longer to be sent
    superseded_ids: list[int] = field(default_factory=list)
    escalated: int = 0  # debts sent to legal review by a final level
    batches: int = 0

    def summary(self) -> str:
        return (
            f"selected={self.selected} queued={self.queued} superseded={self.superseded} "
            f"escalated={self.escalated} batches={self.batches}"
        )


@dataclass(frozen=True)
class _Candidate:
    debt_id: int
    debtor_id: int
    due_date: date
    broken_at: datetime | None
    country: str
    priority: int


@dataclass(frozen=True)
class _Window:
    """Debts due in (after, until] are at `step` today (after None: no lower bound)."""

    step: CadenceStep
    after: date | None
    until: date
    # A row of this level scheduled after this day belongs to the current pass (None: any).
    queued_after: date | None


def plan_due(
    db_session: Session, now: datetime, *, batch_size: int = 1000, commit: bool = True
) -> PlanReport:
    """Queue today's cadence level of every open debt not queued yet; commits each batch.

    `commit=False` leaves everything in the session's transaction (the dry run rolls it back).
    """
    report = PlanReport()
    rules = _contact_rules(db_session)
    zones = _time_zones(db_session)
    for policy in list_policies(db_session=db_session):
        if not policy.steps:
            continue
        for zone_name in zones.get((policy.creditor_id, policy.risk_segment), ()):
            try:
                zone = ZoneInfo(zone_name)
            except (KeyError, ValueError):
                log.warning("planner: unknown time zone %r skipped", zone_name)
                continue
            today = now.astimezone(zone).date()
            planning = _Planning(db_session, policy, zone_name, today, now, rules, report)
            for window in _windows(policy, today):
                for batch in _batches(
                    db_session, _by_due_date(policy, zone_name, window), batch_size
                ):
                    planning.plan(batch, only_level=window.step.level)
                    _end_batch(db_session, commit)
            for batch in _batches(db_session, _restarted(policy, zone_name, today), batch_size):
                planning.plan(batch, only_level=None)
                _end_batch(db_session, commit)
    return report


def _end_batch(db_session: Session, commit: bool) -> None:
    if commit:
        db_session.commit()
    else:
        db_session.flush()


def level_on(steps: list[CadenceStep], reference: date, today: date) -> CadenceStep | None:
    """The step a debt with this reference date is at today (None: before the first)."""
    days = (today - reference).days
    current = None
    for step in steps:
        if step.offset_days <= days:
            current = step
    return current


def reference_date(due_date: date, broken_at: datetime | None, zone: ZoneInfo) -> date:
    """The due date, or the local day the debt's last plan broke when that is later."""
    if broken_at is None:
        return due_date
    return max(due_date, broken_at.astimezone(zone).date())


def step_params(step: CadenceStep) -> dict:
    """What the row keeps of its step: its message, and whether it announces the review.

    The debtor's segment, hence their policy, may change before the row is sent; what was
    planned (and the review it announces) should not.
    """
    params: dict = {"message": step.message}
    if step.escalate:
        params["escalates"] = True
    return params


def dedupe_key(debt_id: int, level: int, scheduled_for: date) -> str:
    return f"reminder:{debt_id}:{level}:{scheduled_for.isoformat()}"


# --- selection ----------------------------------------------------------------------------


def _time_zones(db_session: Session) -> dict[tuple[int, str], list[str]]:
    """The time zones of the debtors of each (creditor, segment), from one query."""
    query = (
        select(Debtor.creditor_id, Debtor.risk_segment, Debtor.timezone)
        .where(Debtor.erased_at.is_(None))
        .distinct()
    )
    zones: dict[tuple[int, str], list[str]] = {}
    for creditor_id, segment, zone in db_session.execute(query):
        zones.setdefault((creditor_id, segment), []).append(zone)
    return {key: sorted(values) for key, values in zones.items()}


def _windows(policy: CadencePolicy, today: date) -> list[_Window]:
    steps = list(policy.steps)
    windows = []
    for index, step in enumerate(steps):
        following = steps[index + 1] if index + 1 < len(steps) else None
        if following is None:
            windows.append(_Window(step, None, today - timedelta(days=step.offset_days), None))
            continue
        windows.append(
            _Window(
                step,
                after=today - timedelta(days=following.offset_days),
                until=today - timedelta(days=step.offset_days),
                queued_after=today - timedelta(days=following.offset_days - step.offset_days),
            )
        )
    return windows


def _last_broken_at():
    return (
        select(func.max(PaymentPlan.ended_at))
        .where(PaymentPlan.debt_id == Debt.id, PaymentPlan.status == PlanStatus.BROKEN)
        .scalar_subquery()
    )


def _candidates(policy: CadencePolicy, zone_name: str) -> Select:
    return (
        select(
            Debt.id,
            Debt.debtor_id,
            Debt.due_date,
            _last_broken_at().label("broken_at"),
            Debtor.country,
            Debtor.recovery_priority_minor,
        )
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .where(
            Debt.status.in_(OPEN_STATUSES),
            Debt.creditor_id == policy.creditor_id,
            Debt.legal_review_at.is_(None),
            Debtor.risk_segment == policy.risk_segment,
            Debtor.timezone == zone_name,
            Debtor.erased_at.is_(None),
        )
    )


def _by_due_date(policy: CadencePolicy, zone_name: str, window: _Window) -> Select:
    """Open debts due within the window that have no row of this level for this pass yet."""
    queued = [
        OutboxMessage.debt_id == Debt.id,
        OutboxMessage.kind == MessageKind.REMINDER,
        OutboxMessage.level == window.step.level,
    ]
    if window.queued_after is not None:
        queued.append(OutboxMessage.scheduled_for > window.queued_after)
    query = _candidates(policy, zone_name).where(
        Debt.due_date <= window.until, ~exists().where(*queued)
    )
    if window.after is not None:
        query = query.where(Debt.due_date > window.after)
    return query


def _restarted(policy: CadencePolicy, zone_name: str, today: date) -> Select:
    """Open debts whose plan broke recently enough for the restarted cadence to apply.

    Bounded by the last level's offset: after it, the debt stays at the last level, which
    the due-date windows (or an escalation) cover.
    """
    last_offset = policy.steps[-1].offset_days
    since = _local_midnight(today - timedelta(days=max(last_offset, 0)), ZoneInfo(zone_name))
    broke = exists().where(
        PaymentPlan.debt_id == Debt.id,
        PaymentPlan.status == PlanStatus.BROKEN,
        PaymentPlan.ended_at >= since,
    )
    return _candidates(policy, zone_name).where(broke)


def _batches(db_session: Session, query: Select, batch_size: int) -> Iterator[list[_Candidate]]:
    """Pages of the query, highest expected recovery first (keyset: no page is read twice)."""
    last: tuple[int, int] | None = None
    while True:
        page = query
        if last is not None:
            priority, debt_id = last
            # The first condition is implied by the second; it is there so that the index on
            # the priority starts each page where the last one ended, instead of walking again
            # past every row already read (the pages cost O(n²) over a million debts without).
            page = page.where(
                Debtor.recovery_priority_minor <= priority,
                or_(
                    Debtor.recovery_priority_minor < priority,
                    and_(Debtor.recovery_priority_minor == priority, Debt.id > debt_id),
                ),
            )
        page = page.order_by(Debtor.recovery_priority_minor.desc(), Debt.id).limit(batch_size)
        rows = [_Candidate(*row) for row in db_session.execute(page)]
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        last = (rows[-1].priority, rows[-1].debt_id)


# --- writing ------------------------------------------------------------------------------


class _Planning:
    """Queue, supersede and escalate for one policy in one time zone on its local today."""

    def __init__(
        self,
        db_session: Session,
        policy: CadencePolicy,
        zone_name: str,
        today: date,
        now: datetime,
        rules: dict[str, gate.ContactRuleFacts],
        report: PlanReport,
    ) -> None:
        self.db_session = db_session
        self.policy = policy
        self.zone_name = zone_name
        self.zone = ZoneInfo(zone_name)
        self.today = today
        self.now = now
        self.rules = rules
        self.report = report
        self._openings: dict[str, datetime] = {}

    def plan(self, batch: list[_Candidate], *, only_level: int | None) -> None:
        self.report.batches += 1
        self.report.selected += len(batch)
        rows = []
        escalating: list[int] = []
        steps = list(self.policy.steps)
        for candidate in batch:
            reference = reference_date(candidate.due_date, candidate.broken_at, self.zone)
            step = level_on(steps, reference, self.today)
            # A debt whose plan broke is at the level of its restart, found by that query.
            if step is None or (only_level is not None and step.level != only_level):
                continue
            scheduled_for = reference + timedelta(days=step.offset_days)
            rows.append(
                dict(
                    dedupe_key=dedupe_key(candidate.debt_id, step.level, scheduled_for),
                    kind=MessageKind.REMINDER,
                    debtor_id=candidate.debtor_id,
                    debt_id=candidate.debt_id,
                    level=step.level,
                    scheduled_for=scheduled_for,
                    not_before=self._opening(candidate.country),
                    priority=candidate.priority,
                    params=step_params(step),
                )
            )
            if step.escalate:
                escalating.append(candidate.debt_id)
        if not rows:
            return
        queued = outbox.enqueue_many(self.db_session, rows)
        self.report.queued += queued
        superseded = supersede_older(
            self.db_session,
            debt_ids=[row["debt_id"] for row in rows],
            current_keys=[row["dedupe_key"] for row in rows],
            now=self.now,
        )
        self.report.superseded += len(superseded)
        self.report.superseded_ids.extend(superseded)
        self.report.escalated += escalate(self.db_session, debt_ids=escalating, now=self.now)

    def _opening(self, country: str) -> datetime:
        """The start of the debtor's contact window today (the gate defers anything else)."""
        if country not in self._openings:
            rule = (
                self.rules.get(country)
                or self.rules.get(DEFAULT_COUNTRY)
                or contact_rules.DEFAULT_RULES[DEFAULT_COUNTRY]
            )
            self._openings[country] = gate.window_opens_at(rule, self.zone_name, self.today)
        return self._openings[country]


def supersede_older(
    db_session: Session, *, debt_ids: list[int], current_keys: list[str], now: datetime
) -> list[int]:
    """Suppress the still-pending reminders of these debts other than their current level.

    One conditional UPDATE (a row a sender already started is left to it) and one INSERT of
    the delivery records.
    """
    if not debt_ids:
        return []
    statement = (
        update(OutboxMessage)
        .where(
            OutboxMessage.debt_id.in_(debt_ids),
            OutboxMessage.kind == MessageKind.REMINDER,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.dedupe_key.not_in(current_keys),
        )
        .values(
            status=OutboxStatus.SUPPRESSED,
            suppression_reason=gate.SUPERSEDED,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    superseded = list(db_session.scalars(statement))
    if superseded:
        db_session.execute(
            insert(DeliveryAttempt),
            [
                dict(
                    outbox_id=outbox_id,
                    occurred_at=now,
                    channel=None,
                    outcome=DeliveryOutcome.SUPPRESSED,
                    reason=gate.SUPERSEDED,
                    detail="a later cadence level of the same debt was queued",
                )
                for outbox_id in superseded
            ],
        )
    return superseded


def escalate(db_session: Session, *, debt_ids: list[int], now: datetime) -> int:
    """Put the debts under legal review by a person, and ask staff to take over.

    Only the planner that changed a debt records the escalation, once per contact of the
    debtor, or once for the debtor; the debtor's most recently used contact is queued for
    staff (a debtor with no conversation yet has only the debt's legal review).
    """
    if not debt_ids:
        return 0
    statement = (
        update(Debt)
        .where(Debt.id.in_(debt_ids), Debt.legal_review_at.is_(None))
        .values(legal_review_at=now)
        .returning(Debt.id, Debt.debtor_id)
        .execution_options(synchronize_session=False)
    )
    changed = db_session.execute(statement).all()
    if not changed:
        return 0
    debtor_ids = {debtor_id for _, debtor_id in changed}
    contacts: dict[int, list[ChannelContact]] = {}
    for contact in db_session.scalars(
        select(ChannelContact).where(ChannelContact.debtor_id.in_(debtor_ids))
    ):
        contacts.setdefault(contact.debtor_id, []).append(contact)
    data = {"reason": ESCALATION_REASON}
    for debt_id, debtor_id in changed:
        for contact in contacts.get(debtor_id) or [None]:
            record(
                db_session=db_session,
                event="escalation.requested",
                actor=Actor.SYSTEM,
                contact=contact,
                debtor_id=debtor_id,
                debt_id=debt_id,
                data=data,
            )
    # One conversation per debtor goes to the staff queue: the one they wrote in last.
    for debtor_id in sorted(debtor_ids):
        conversation = max(
            contacts.get(debtor_id) or [],
            key=lambda c: (c.last_inbound_at is not None, c.last_inbound_at or now, c.id),
            default=None,
        )
        if conversation is not None:
            first_debt = min(debt_id for debt_id, owner in changed if owner == debtor_id)
            handoffs.escalate(
                db_session,
                contact=conversation,
                reason=ESCALATION_REASON,
                now=now,
                debt_id=first_debt,
            )
    db_session.flush()
    return len(changed)


# --- contact windows ----------------------------------------------------------------------


def _contact_rules(db_session: Session) -> dict[str, gate.ContactRuleFacts]:
    rows = db_session.scalars(select(ContactRule))
    return {row.country: contact_rules.facts_of(row) for row in rows}


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)
