"""The campaign dry run: plan now, ask the gate about every queued message, roll it all back.

It shows what the sender would do with each pending outbox row (the ones just planned and the
ones already queued): send it on which channel and when (the debtor's local time), defer it
until when and why, or suppress it and why; plus the older levels the planning superseded.
Nothing is written: the planning happens in the session's transaction, which is rolled back.

Messages are judged in the order senders claim them (priority first) and each planned send
counts toward the debtor's frequency caps for the messages after it, as it would for real.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.campaigns import contact_rules, gate
from backend.campaigns.messages import first_name
from backend.campaigns.planner import PlanReport, plan_due
from backend.debtors.models import Debtor
from backend.debts.models import Debt
from backend.gateway.models import OutboxMessage, OutboxStatus

SEND, DEFER, SUPPRESS = "send", "defer", "suppress"
_CHUNK = 500

Progress = Callable[[int, int], None]  # (messages judged so far, total)


@dataclasses.dataclass(frozen=True)
class PreviewEntry:
    """One message and what would happen to it (personal data: first name and reference)."""

    outbox_id: int
    kind: str
    level: int | None
    debt_reference: str | None
    debtor_ref: str
    first_name: str
    outcome: str  # send, defer, suppress
    reason: str | None  # why deferred or suppressed
    channel: str | None  # send: where
    template_only: bool
    at_local: datetime | None  # send: when; defer: until (the debtor's local time)


@dataclasses.dataclass
class PreviewResult:
    now: datetime
    plan: PlanReport
    entries: list[PreviewEntry]

    def counts(self) -> Counter[tuple[str, str]]:
        """How many messages per (outcome, reason or channel)."""
        return Counter(
            (entry.outcome, entry.reason or entry.channel or "") for entry in self.entries
        )


def dry_run(
    *, db_session: Session, now: datetime, progress: Progress | None = None
) -> PreviewResult:
    """What a campaign run at `now` would do; the database is left as it was."""
    db_session.rollback()  # start from a clean transaction of our own
    try:
        report = plan_due(db_session, now, commit=False)
        entries = _superseded_entries(db_session, report.superseded_ids)
        entries.extend(_judge_pending(db_session, now, progress))
        return PreviewResult(now=now, plan=report, entries=entries)
    finally:
        db_session.rollback()


def _pending(db_session: Session) -> list[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .order_by(OutboxMessage.priority.desc(), OutboxMessage.not_before, OutboxMessage.id)
    )
    return list(db_session.scalars(query))


def _judge_pending(
    db_session: Session, now: datetime, progress: Progress | None
) -> list[PreviewEntry]:
    messages = _pending(db_session)
    people = _people(db_session, messages)
    # Sends this run would make, per debtor: they count toward the caps of the next ones.
    planned_sends: dict[int, tuple[datetime, ...]] = {}
    entries = []
    for start in range(0, len(messages), _CHUNK):
        chunk = messages[start : start + _CHUNK]
        facts = contact_rules.load_facts(db_session, chunk, now)
        for message in chunk:
            if message.id not in facts:
                continue
            message_facts, debtor_facts, debt_facts, rule = facts[message.id]
            extra = planned_sends.get(message.debtor_id, ())
            if extra:
                debtor_facts = dataclasses.replace(
                    debtor_facts, recent_sends=debtor_facts.recent_sends + extra
                )
            at = max(now, message.not_before)
            decision = gate.decide(message_facts, debtor_facts, debt_facts, rule, at)
            zone = ZoneInfo(debtor_facts.timezone)
            if isinstance(decision, gate.Send) and message.kind not in gate.TRANSACTIONAL_KINDS:
                planned_sends[message.debtor_id] = (*extra, at)
            entries.append(_entry(message, decision, at, zone, people))
        if progress is not None:
            progress(min(start + _CHUNK, len(messages)), len(messages))
    return entries


def _entry(
    message: OutboxMessage,
    decision: gate.Decision,
    at: datetime,
    zone: ZoneInfo,
    people: dict[int, tuple[str, str]],
) -> PreviewEntry:
    debtor_ref, name = people["debtor", message.debtor_id]
    debt_reference = people.get(("debt", message.debt_id), (None,))[0]
    common = dict(
        outbox_id=message.id,
        kind=message.kind.value,
        level=message.level,
        debt_reference=debt_reference,
        debtor_ref=debtor_ref,
        first_name=name,
    )
    if isinstance(decision, gate.Send):
        return PreviewEntry(
            **common,
            outcome=SEND,
            reason=None,
            channel=decision.route.channel.value,
            template_only=decision.template_only,
            at_local=at.astimezone(zone),
        )
    if isinstance(decision, gate.Defer):
        return PreviewEntry(
            **common,
            outcome=DEFER,
            reason=decision.reason,
            channel=None,
            template_only=False,
            at_local=decision.until.astimezone(zone),
        )
    return PreviewEntry(
        **common,
        outcome=SUPPRESS,
        reason=decision.reason,
        channel=None,
        template_only=False,
        at_local=None,
    )


def _superseded_entries(db_session: Session, outbox_ids: list[int]) -> list[PreviewEntry]:
    if not outbox_ids:
        return []
    messages = list(
        db_session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids)))
    )
    people = _people(db_session, messages)
    return [
        _entry(message, gate.Suppress(gate.SUPERSEDED), message.not_before, ZoneInfo("UTC"), people)
        for message in messages
    ]


def _people(db_session: Session, messages: list[OutboxMessage]) -> dict:
    """(debtor ref, first name) per debtor id and the reference per debt id, in two queries."""
    debtor_ids = {message.debtor_id for message in messages}
    debt_ids = {message.debt_id for message in messages if message.debt_id is not None}
    people: dict = {}
    for debtor in db_session.scalars(select(Debtor).where(Debtor.id.in_(debtor_ids))):
        people["debtor", debtor.id] = (debtor.external_ref, first_name(debtor))
    for debt_id, reference in db_session.execute(
        select(Debt.id, Debt.reference).where(Debt.id.in_(debt_ids))
    ):
        people["debt", debt_id] = (reference,)
    return people


# --- the API's view -----------------------------------------------------------------------


class PreviewEntryRead(BaseModel):
    outbox_id: int
    kind: str
    level: int | None
    debt_reference: str | None
    debtor_ref: str
    first_name: str
    outcome: str
    reason: str | None
    channel: str | None
    template_only: bool
    at_local: datetime | None


class PreviewCount(BaseModel):
    outcome: str
    reason: str  # the reason, or for sends the channel
    count: int


# What a campaign run would do (GET /campaigns/preview); nothing was written.
class PreviewRead(BaseModel):
    at: datetime
    planned: int
    superseded: int
    escalated: int
    summary: list[PreviewCount]
    messages: list[PreviewEntryRead]


def preview_read(result: PreviewResult) -> PreviewRead:
    return PreviewRead(
        at=result.now,
        planned=result.plan.queued,
        superseded=result.plan.superseded,
        escalated=result.plan.escalated,
        summary=[
            PreviewCount(outcome=outcome, reason=reason, count=count)
            for (outcome, reason), count in sorted(result.counts().items())
        ],
        messages=[PreviewEntryRead(**dataclasses.asdict(entry)) for entry in result.entries],
    )
