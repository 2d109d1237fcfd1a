"""The nightly segment recompute: gather behaviour in batches, score it, record what changed.

`recompute_all` walks the debtors (erased ones skipped) in batches of ids. Per batch,
`backend.segments.facts` gathers each debtor's `DebtorBehaviour` in a fixed number of
set-based queries; `backend.segments.scorecard` scores it; and only what differs from what is
stored is written:

- new figures (score, likelihood, priority) with `segment_updated_at = now`;
- a new segment with a `SegmentChange` row and a "segment.changed" interaction holding the
  reasons. The cadence planner and `backend.debts.service.policy_for` both look the policy up
  by `Debtor.risk_segment`, so the next reminder and the next quote follow the new segment;
- a segment without a negotiation policy for one of the debtor's debt currencies is never
  entered (a quote would fail with `no_policy`): the debtor keeps their segment and a
  "segment.change_held" interaction says why, once, when the scorecard first points there.

Running it twice changes nothing the second time. Two runs at once are safe: on PostgreSQL a
batch locks its debtors with `FOR UPDATE SKIP LOCKED`, so the runs share the work; on SQLite,
which serializes writers, every write is conditional on the figures the run read, so the
second writer of a debtor writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from backend.debtors.models import Debtor
from backend.enums import Actor
from backend.interactions.service import record
from backend.money import to_decimal
from backend.negotiation.models import NegotiationPolicy
from backend.segments import facts, scorecard
from backend.segments.models import SegmentChange
from backend.segments.schemas import SegmentChangeRead, SegmentRead
from backend.segments.scorecard import DebtorBehaviour, Scorecard

log = logging.getLogger(__name__)

ACTOR_REF = "segments"
CHANGED_EVENT = "segment.changed"
HELD_EVENT = "segment.change_held"
NO_POLICY = "no_policy"

# Campaigns and the staff queue: the largest expected recovery first.
PRIORITY_ORDER = (Debtor.recovery_priority_minor.desc(), Debtor.id)


@dataclass
class RecomputeReport:
    """What a run did: debtors scored, figures rewritten, segments moved or held."""

    scored: int = 0
    updated: int = 0
    changed: int = 0
    held: int = 0
    # (from, to) → how many debtors moved so.
    moves: dict[tuple[str, str], int] = field(default_factory=dict)

    def line(self) -> str:
        """One line for the command line and the scheduler's log."""
        moves = ", ".join(f"{a}→{b} {n}" for (a, b), n in sorted(self.moves.items()))
        return (
            f"{self.scored} debtors scored, {self.updated} updated, {self.changed} moved"
            f"{f' ({moves})' if moves else ''}, {self.held} held for want of a policy"
        )

    def add(self, other: RecomputeReport) -> None:
        self.scored += other.scored
        self.updated += other.updated
        self.changed += other.changed
        self.held += other.held
        for move, count in other.moves.items():
            self.moves[move] = self.moves.get(move, 0) + count


def recompute_all(db_session: Session, now: datetime, *, batch_size: int = 500) -> RecomputeReport:
    """The nightly job: rescore every debtor not erased, one committed batch at a time."""
    report = RecomputeReport()
    policies = _policy_keys(db_session)
    after = 0
    while True:
        ids = db_session.scalars(
            select(Debtor.id)
            .where(Debtor.id > after, Debtor.erased_at.is_(None))
            .order_by(Debtor.id)
            .limit(batch_size)
        ).all()
        if not ids:
            break
        after = ids[-1]
        batch = _recompute_batch(db_session, ids, now, policies, skip_locked=True)
        db_session.commit()
        report.add(batch)
    log.info("segments: %s", report.line())
    return report


def recompute(db_session: Session, debtor: Debtor, now: datetime) -> Scorecard | None:
    """Rescore one debtor now (None when erased); the caller's transaction commits it."""
    if debtor.erased_at is not None:
        return None
    cards: dict[int, Scorecard] = {}
    _recompute_batch(
        db_session, [debtor.id], now, _policy_keys(db_session), skip_locked=False, cards=cards
    )
    db_session.flush()
    db_session.refresh(debtor)
    return cards.get(debtor.id)


def history(db_session: Session, debtor: Debtor, *, limit: int = 20) -> list[SegmentChange]:
    """The debtor's segment changes, newest first."""
    query = (
        select(SegmentChange)
        .where(SegmentChange.debtor_id == debtor.id)
        .order_by(SegmentChange.computed_at.desc(), SegmentChange.id.desc())
        .limit(limit)
    )
    return list(db_session.scalars(query))


def debtors_by_priority(
    *,
    db_session: Session,
    creditor_id: int | None = None,
    segment: str | None = None,
    limit: int = 100,
) -> list[Debtor]:
    """Debtors by expected recovery, largest first (ties by id); erased ones left out.

    To order another query the same way, use `PRIORITY_ORDER`.
    """
    query = select(Debtor).where(Debtor.erased_at.is_(None))
    if creditor_id is not None:
        query = query.where(Debtor.creditor_id == creditor_id)
    if segment is not None:
        query = query.where(Debtor.risk_segment == segment)
    return list(db_session.scalars(query.order_by(*PRIORITY_ORDER).limit(limit)))


def behaviour(db_session: Session, debtor: Debtor, now: datetime) -> DebtorBehaviour:
    """The facts the scorecard reads for one debtor, as the nightly run gathers them."""
    gathered = facts.gather(db_session, [debtor.id], now, lock=None)
    return gathered.behaviours[debtor.id]


def main_currency(db_session: Session, debtor: Debtor, now: datetime) -> str | None:
    """The currency the debtor's priority is in: that of their oldest open debt."""
    return behaviour(db_session, debtor, now).currency


def standing(db_session: Session, debtor: Debtor, now: datetime, *, limit: int = 20) -> SegmentRead:
    """The debtor's segment and figures as stored by the last run, with their latest changes."""
    currency = main_currency(db_session, debtor, now) if debtor.erased_at is None else None
    return SegmentRead(
        external_ref=debtor.external_ref,
        risk_segment=debtor.risk_segment,
        scored_segment=(
            scorecard.segment_for(debtor.risk_score) if debtor.risk_score is not None else None
        ),
        risk_score=debtor.risk_score,
        pay_likelihood=debtor.pay_likelihood,
        recovery_priority_minor=debtor.recovery_priority_minor,
        recovery_priority=(
            to_decimal(debtor.recovery_priority_minor, currency) if currency else None
        ),
        currency=currency,
        segment_updated_at=debtor.segment_updated_at,
        changes=[
            SegmentChangeRead.model_validate(change)
            for change in history(db_session, debtor, limit=limit)
        ],
    )


# --- one batch ----------------------------------------------------------------------------


def _recompute_batch(
    db_session: Session,
    ids: list[int],
    now: datetime,
    policies: set[tuple[int, str, str]],
    *,
    skip_locked: bool,
    cards: dict[int, Scorecard] | None = None,
) -> RecomputeReport:
    report = RecomputeReport()
    gathered = facts.gather(db_session, ids, now, lock="skip_locked" if skip_locked else "wait")
    quiet_updates: list[dict[str, Any]] = []
    for debtor_id, stored in gathered.debtors.items():
        card = scorecard.score(gathered.behaviours[debtor_id])
        report.scored += 1
        if cards is not None:
            cards[debtor_id] = card
        target = card.segment
        missing = sorted(
            f"{creditor_id}:{currency}"
            for creditor_id, currency in gathered.debt_keys[debtor_id]
            if (creditor_id, target, currency) not in policies
        )
        new_segment = stored.risk_segment if missing else target
        figures_same = (
            stored.risk_score == card.score
            and stored.pay_likelihood == card.pay_likelihood
            and stored.recovery_priority_minor == card.recovery_priority_minor
        )
        if figures_same and new_segment == stored.risk_segment:
            continue
        report.updated += 1
        # Held: said once, when the scorecard first points to a segment it cannot enter.
        held_now = new_segment != target and (
            stored.risk_score is None or scorecard.segment_for(stored.risk_score) != target
        )
        values = {
            "b_id": debtor_id,
            "b_old_segment": stored.risk_segment,
            "b_old_score": stored.risk_score,
            "b_old_priority": stored.recovery_priority_minor,
            "b_segment": new_segment,
            "b_score": card.score,
            "b_likelihood": card.pay_likelihood,
            "b_priority": card.recovery_priority_minor,
            "b_updated_at": now,
        }
        if new_segment == stored.risk_segment and not held_now:
            quiet_updates.append(values)
            continue
        if db_session.execute(_CONDITIONAL_UPDATE, values).rowcount != 1:
            report.updated -= 1  # another run got there first
            continue
        if new_segment != stored.risk_segment:
            _record_change(db_session, debtor_id, stored.risk_segment, card, now)
            report.changed += 1
            move = (stored.risk_segment, new_segment)
            report.moves[move] = report.moves.get(move, 0) + 1
        else:
            _record_held(db_session, debtor_id, stored.risk_segment, card, missing)
            report.held += 1
    if quiet_updates:
        db_session.execute(_CONDITIONAL_UPDATE, quiet_updates)
    _expire_loaded(db_session, gathered.debtors)
    return report


def _expire_loaded(db_session: Session, debtor_ids) -> None:
    """Debtors this session already holds are re-read: they were updated behind the ORM."""
    for debtor_id in debtor_ids:
        loaded = db_session.identity_map.get(identity_key(Debtor, debtor_id))
        if loaded is not None:
            db_session.expire(loaded)


# Written only if the debtor still has the figures this run read (a concurrent run's write
# makes it a no-op). Core, not ORM: one executemany for the batch's figure-only updates.
_debtors = Debtor.__table__
_CONDITIONAL_UPDATE = (
    update(_debtors)
    .where(
        _debtors.c.id == bindparam("b_id"),
        _debtors.c.risk_segment == bindparam("b_old_segment"),
        _debtors.c.risk_score.is_not_distinct_from(bindparam("b_old_score")),
        _debtors.c.recovery_priority_minor == bindparam("b_old_priority"),
    )
    .values(
        risk_segment=bindparam("b_segment"),
        risk_score=bindparam("b_score"),
        pay_likelihood=bindparam("b_likelihood"),
        recovery_priority_minor=bindparam("b_priority"),
        segment_updated_at=bindparam("b_updated_at"),
    )
)


def _record_change(
    db_session: Session, debtor_id: int, from_segment: str, card: Scorecard, now: datetime
) -> None:
    reasons = card.reasons_as_dicts()
    db_session.add(
        SegmentChange(
            debtor_id=debtor_id,
            from_segment=from_segment,
            to_segment=card.segment,
            score=card.score,
            pay_likelihood=card.pay_likelihood,
            recovery_priority_minor=card.recovery_priority_minor,
            reasons=reasons,
            computed_at=now,
        )
    )
    record(
        db_session=db_session,
        event=CHANGED_EVENT,
        actor=Actor.SYSTEM,
        actor_ref=ACTOR_REF,
        debtor_id=debtor_id,
        data={"from": from_segment, "to": card.segment, "score": card.score, "reasons": reasons},
    )


def _record_held(
    db_session: Session, debtor_id: int, segment: str, card: Scorecard, missing: list[str]
) -> None:
    record(
        db_session=db_session,
        event=HELD_EVENT,
        actor=Actor.SYSTEM,
        actor_ref=ACTOR_REF,
        debtor_id=debtor_id,
        data={
            "from": segment,
            "to": card.segment,
            "reason": NO_POLICY,
            # "creditor_id:currency" of each debt the target segment has no policy for.
            "missing_policies": missing,
            "score": card.score,
            "reasons": card.reasons_as_dicts(),
        },
    )


def _policy_keys(db_session: Session) -> set[tuple[int, str, str]]:
    """(creditor, segment, currency) of every negotiation policy: a small table, read once."""
    query = select(
        NegotiationPolicy.creditor_id, NegotiationPolicy.risk_segment, NegotiationPolicy.currency
    )
    return {tuple(row) for row in db_session.execute(query)}
