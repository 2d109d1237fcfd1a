"""Cadence policies: the dunning levels each debt goes through, per creditor and risk segment.

A policy is data: steps at offsets from the due date (negative: before it), each naming the
catalog message it sends (`backend/campaigns/messages.py`), and the order of channels to try.
The last step may escalate: the debt goes to legal review by a person (never automatically to
any legal step, and never announced to the debtor as a threat).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend.campaigns.models import CadencePolicy, CadenceStep
from backend.creditors.models import Creditor
from backend.exceptions import InvalidRequest, NotFound
from backend.gateway.models import OutboundChannel

# The catalog messages a step can send, mildest first (texts in backend/campaigns/messages.py).
MESSAGE_KEYS = (
    "before_due",
    "due_today",
    "overdue_gentle",
    "overdue_reminder",
    "overdue_firm",
    "final_notice",
)
RISK_SEGMENTS = ("low", "medium", "high")
DEFAULT_CHANNEL_ORDER = (
    OutboundChannel.WHATSAPP,
    OutboundChannel.TELEGRAM,
    OutboundChannel.WEBCHAT,
    OutboundChannel.EMAIL,
)


@dataclass(frozen=True)
class StepSpec:
    """One level as written by staff or the defaults: levels are numbered in offset order."""

    offset_days: int
    message: str
    escalate: bool = False


# Like dunning levels: riskier debtors hear earlier and more often; every segment ends with the
# final notice at +30 days, which sends the debt to a person's review.
DEFAULT_STEPS: dict[str, tuple[StepSpec, ...]] = {
    "low": (
        StepSpec(-3, "before_due"),
        StepSpec(0, "due_today"),
        StepSpec(5, "overdue_gentle"),
        StepSpec(15, "overdue_reminder"),
        StepSpec(30, "final_notice", escalate=True),
    ),
    "medium": (
        StepSpec(-3, "before_due"),
        StepSpec(0, "due_today"),
        StepSpec(3, "overdue_gentle"),
        StepSpec(7, "overdue_reminder"),
        StepSpec(15, "overdue_firm"),
        StepSpec(30, "final_notice", escalate=True),
    ),
    "high": (
        StepSpec(-5, "before_due"),
        StepSpec(-1, "before_due"),
        StepSpec(0, "due_today"),
        StepSpec(3, "overdue_gentle"),
        StepSpec(7, "overdue_reminder"),
        StepSpec(15, "overdue_firm"),
        StepSpec(30, "final_notice", escalate=True),
    ),
}


def validate(*, risk_segment: str, steps: list[StepSpec], channel_order: list[str]) -> None:
    """Refuse a policy the planner could not follow, with a reason code per problem.

    Offsets strictly increase (levels are numbered in that order), at most one step escalates
    and it is the last, every message is a known catalog key, channels are known and unique.
    """
    if risk_segment not in RISK_SEGMENTS:
        raise InvalidRequest(
            f"risk segment must be one of {', '.join(RISK_SEGMENTS)}",
            reason_code="unknown_risk_segment",
        )
    if not steps:
        raise InvalidRequest("a cadence needs at least one step", reason_code="no_steps")
    offsets = [step.offset_days for step in steps]
    if any(later <= earlier for earlier, later in zip(offsets, offsets[1:], strict=False)):
        raise InvalidRequest(
            "step offsets must strictly increase from one level to the next",
            reason_code="offsets_not_increasing",
        )
    unknown = sorted({step.message for step in steps} - set(MESSAGE_KEYS))
    if unknown:
        raise InvalidRequest(
            f"unknown message {', '.join(unknown)}; known: {', '.join(MESSAGE_KEYS)}",
            reason_code="unknown_message",
        )
    escalating = [index for index, step in enumerate(steps) if step.escalate]
    if len(escalating) > 1 or (escalating and escalating[0] != len(steps) - 1):
        raise InvalidRequest(
            "only the last step may escalate to review", reason_code="escalation_not_last"
        )
    if not channel_order:
        raise InvalidRequest("name at least one channel", reason_code="no_channels")
    known = {channel.value for channel in OutboundChannel}
    strange = sorted(set(channel_order) - known)
    if strange:
        raise InvalidRequest(
            f"unknown channel {', '.join(strange)}; known: {', '.join(sorted(known))}",
            reason_code="unknown_channel",
        )
    if len(set(channel_order)) != len(channel_order):
        raise InvalidRequest("each channel may appear once", reason_code="duplicate_channel")


def list_policies(*, db_session: Session) -> list[CadencePolicy]:
    query = (
        select(CadencePolicy)
        .options(selectinload(CadencePolicy.steps))
        .order_by(CadencePolicy.creditor_id, CadencePolicy.risk_segment)
    )
    return list(db_session.scalars(query))


def policy_for(db_session: Session, creditor_id: int, risk_segment: str) -> CadencePolicy | None:
    """The creditor's cadence for debtors in this risk segment, with its steps in level order."""
    query = (
        select(CadencePolicy)
        .options(selectinload(CadencePolicy.steps))
        .where(CadencePolicy.creditor_id == creditor_id, CadencePolicy.risk_segment == risk_segment)
    )
    return db_session.scalars(query).one_or_none()


def get(*, db_session: Session, creditor_id: int, risk_segment: str) -> CadencePolicy:
    policy = policy_for(db_session, creditor_id, risk_segment)
    if policy is None:
        raise NotFound(
            f"no cadence policy for creditor {creditor_id} and segment {risk_segment!r}",
            reason_code="cadence_policy_not_found",
        )
    return policy


def put(
    *,
    db_session: Session,
    creditor_id: int,
    risk_segment: str,
    steps: list[StepSpec],
    channel_order: list[str],
) -> tuple[CadencePolicy, bool]:
    """Create the policy or replace its steps and channel order; True when created.

    Rows already in the outbox keep their level number: a replaced cadence applies to what the
    planner queues from now on.
    """
    validate(risk_segment=risk_segment, steps=steps, channel_order=channel_order)
    if db_session.get(Creditor, creditor_id) is None:
        raise NotFound(f"no creditor {creditor_id}", reason_code="creditor_not_found")
    policy = policy_for(db_session, creditor_id, risk_segment)
    created = policy is None
    if policy is None:
        policy = CadencePolicy(creditor_id=creditor_id, risk_segment=risk_segment)
        db_session.add(policy)
    else:
        # The old steps go first: (policy, level) and (policy, offset) are unique.
        policy.steps.clear()
        db_session.flush()
    policy.channel_order = list(channel_order)
    policy.steps.extend(_steps(steps))
    db_session.flush()
    return policy, created


def delete(*, db_session: Session, creditor_id: int, risk_segment: str) -> None:
    """Without a policy, the segment's debts get no cadence messages (follow-ups still go)."""
    db_session.delete(
        get(db_session=db_session, creditor_id=creditor_id, risk_segment=risk_segment)
    )
    db_session.flush()


def seed_defaults(db_session: Session, creditor: Creditor) -> list[CadencePolicy]:
    """The default cadence of each segment the creditor has none for; running again adds none.

    Flushes; the caller commits.
    """
    created = []
    for segment, steps in DEFAULT_STEPS.items():
        if policy_for(db_session, creditor.id, segment) is not None:
            continue
        policy = CadencePolicy(
            creditor_id=creditor.id,
            risk_segment=segment,
            channel_order=[channel.value for channel in DEFAULT_CHANNEL_ORDER],
            steps=_steps(list(steps)),
        )
        db_session.add(policy)
        created.append(policy)
    db_session.flush()
    return created


def step_at(policy: CadencePolicy, level: int) -> CadenceStep | None:
    return next((step for step in policy.steps if step.level == level), None)


def _steps(specs: list[StepSpec]) -> list[CadenceStep]:
    return [
        CadenceStep(
            level=level,
            offset_days=spec.offset_days,
            message=spec.message,
            escalate=spec.escalate,
        )
        for level, spec in enumerate(specs, start=1)
    ]
