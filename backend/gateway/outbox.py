"""The outbox: messages queued by the planner, claimed by senders with a lease, sent once.

Producers (`backend.campaigns`) `enqueue` rows keyed by a dedupe key, so planning twice, or two
schedulers at once, add nothing. Senders (`backend.gateway.sender`) `claim` due rows with a
lease and move each through its states:

    pending ──claim──▶ pending + lease ──start──▶ sending ──mark_sent──▶ sent
       ▲                  │   │                     │ │
       │                  │   └─suppress──▶ suppressed │
       └──defer/retry─────┴──────────────────────────┘ └─fail──▶ failed
                                     sending + lease expired ──▶ in_doubt

Exactly once. Delivering to an external API that has no idempotency key cannot be made
exactly-once in general: a sender can die after the provider accepted a message and before it
wrote down that it did. The design narrows that to the one message in flight: `start` commits
`status=sending, attempts+1` (and a fresh lease) *before* the adapter is called, and
`mark_sent` commits `sent` right after it returns. So after a crash:

- a row claimed but never started is still `pending`; its lease expires and any sender
  claims it again (nothing was sent);
- a row found `sending` with an expired lease was in flight when its sender died: it may or
  may not have been delivered. It becomes `in_doubt`, is recorded, and is never resent
  automatically: a duplicate collection message breaks the frequency caps promised to the
  debtor and is worse than a missed reminder, which the next cadence level or staff covers.

Only the lease owner may move a row: every transition is one conditional UPDATE on
`lease_owner` (and the state it expects), and says whether it won. A sender that lost its
lease marks nothing. The one exception is `mark_sent` on a row that went `in_doubt` while its
own sender was still sending (lease too short): the owner knows it was delivered, so the
truth is recorded (`in_doubt` rows keep their `lease_owner` and are never claimed again).

Claiming. PostgreSQL: one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`,
so concurrent senders skip each other's rows instead of waiting. SQLite has no row locks but
serializes writers: the same UPDATE, with its sub-select, runs as one write statement under
the database's single write lock, so no other writer can lease a row between the sub-select
and the update; that is what SKIP LOCKED guarantees on PostgreSQL.

One debtor at a time: a claim takes at most one row per debtor, and none of a debtor who has
a row leased by anyone, so the compliance gate's frequency caps (read right after the claim)
see every earlier message of that debtor already committed as sent. On PostgreSQL, claims
also take a transaction-scoped advisory lock, because two concurrent claims would otherwise
both see a debtor as free; claims are one short statement, so this costs little.

Every transition commits: a lease or a state only protects anything once other senders can
see it. Each writes a `DeliveryAttempt` with its outcome and reason. Nothing here logs or
stores personal data: ids, channels and short reason codes only.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import and_, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from backend.db import utcnow
from backend.gateway.models import (
    DeliveryAttempt,
    DeliveryOutcome,
    MessageKind,
    OutboundChannel,
    OutboxMessage,
    OutboxStatus,
)

# Reason codes recorded by the outbox itself (the gate's are in `backend.campaigns.gate`).
IN_DOUBT = "in_doubt"  # in flight when its sender stopped: maybe delivered, not resent
RETRIES_EXHAUSTED = "retries_exhausted"  # too many transient errors on one channel
NO_CHANNEL_LEFT = "no_channel_left"  # every allowed channel failed permanently

# A constant key for PostgreSQL's advisory lock that serializes claims (any bigint works).
_CLAIM_LOCK_KEY = 0x4F55_5442_4F58  # "OUTBOX"
# How many due rows a claim looks at per row it wants, to find rows of free debtors.
_SCAN_FACTOR = 4
_ENQUEUE_CHUNK = 500
_LEASED = (OutboxStatus.PENDING, OutboxStatus.SENDING)

outbox = OutboxMessage.__table__
# (channel, reason) pairs the gate passed over before its answer.
Skipped = Iterable[tuple[OutboundChannel, str]]


# Producers


def enqueue(
    db_session: Session,
    *,
    dedupe_key: str,
    kind: MessageKind,
    debtor_id: int,
    debt_id: int | None,
    scheduled_for: date,
    not_before: datetime,
    level: int | None = None,
    params: dict | None = None,
    priority: int = 0,
) -> bool:
    """Queue one message unless its dedupe key is queued already; True when inserted.

    Flushes, does not commit: the caller's transaction decides.
    """
    row = dict(
        dedupe_key=dedupe_key,
        kind=kind,
        debtor_id=debtor_id,
        debt_id=debt_id,
        scheduled_for=scheduled_for,
        not_before=not_before,
        level=level,
        params=params or {},
        priority=priority,
    )
    return enqueue_many(db_session, [row]) == 1


def enqueue_many(db_session: Session, rows: list[dict]) -> int:
    """Queue many messages (the keyword arguments of `enqueue`, as dicts); return how many new.

    One INSERT … ON CONFLICT (dedupe_key) DO NOTHING per chunk, so a concurrent planner that
    queued the same key first makes this skip it rather than fail.
    """
    if not rows:
        return 0
    db_session.flush()
    insert_for = postgresql.insert if db_session.get_bind().dialect.name == "postgresql" else None
    insert_for = insert_for or sqlite.insert
    now = utcnow()
    inserted = 0
    for start in range(0, len(rows), _ENQUEUE_CHUNK):
        values = [_new_row(row, now) for row in rows[start : start + _ENQUEUE_CHUNK]]
        statement = (
            insert_for(outbox)
            .values(values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(outbox.c.id)  # rowcount is not reliable here on every driver
        )
        inserted += len(db_session.execute(statement).all())
    return inserted


def _new_row(row: dict, now: datetime) -> dict:
    return dict(
        dedupe_key=row["dedupe_key"],
        kind=MessageKind(row["kind"]),
        debtor_id=row["debtor_id"],
        debt_id=row.get("debt_id"),
        level=row.get("level"),
        scheduled_for=row["scheduled_for"],
        not_before=row["not_before"],
        priority=row.get("priority") or 0,
        params=row.get("params") or {},
        status=OutboxStatus.PENDING,
        attempts=0,
        lease_owner=None,
        lease_expires_at=None,
        channel=None,
        contact_id=None,
        suppression_reason=None,
        last_error=None,
        provider_message_id=None,
        created_at=now,
        updated_at=now,
        sent_at=None,
    )


# Claiming


def claim(
    db_session: Session,
    *,
    owner: str,
    now: datetime,
    batch_size: int = 50,
    lease_seconds: float = 60,
) -> list[OutboxMessage]:
    """Lease up to `batch_size` due rows to `owner`, highest priority first; commits.

    Due: `pending`, `not_before` reached, and not leased (or the lease expired). Rows found
    `sending` with an expired lease become `in_doubt` first (see the module docstring).
    """
    db_session.commit()  # start from a fresh transaction whose first statement writes
    give_up_abandoned_sends(db_session, now=now, commit=False)
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK_KEY})
    leased_free = or_(outbox.c.lease_expires_at.is_(None), outbox.c.lease_expires_at <= now)
    candidates = (
        select(outbox.c.id, outbox.c.debtor_id, outbox.c.priority, outbox.c.not_before)
        .where(
            outbox.c.status == OutboxStatus.PENDING,
            outbox.c.not_before <= now,
            leased_free,
        )
        .order_by(outbox.c.priority.desc(), outbox.c.not_before, outbox.c.id)
        .limit(batch_size * _SCAN_FACTOR)
        .with_for_update(skip_locked=True)  # omitted on SQLite, which serializes writers
        .subquery("candidates")
    )
    other = aliased(outbox, name="other")
    debtor_busy = exists().where(
        other.c.debtor_id == candidates.c.debtor_id,
        other.c.status.in_(_LEASED),
        other.c.lease_owner.is_not(None),
        other.c.lease_expires_at > now,
    )
    first_per_debtor = (
        select(
            candidates.c.id,
            candidates.c.priority,
            candidates.c.not_before,
            func.row_number()
            .over(
                partition_by=candidates.c.debtor_id,
                order_by=(candidates.c.priority.desc(), candidates.c.not_before, candidates.c.id),
            )
            .label("rank"),
        )
        .where(~debtor_busy)
        .subquery("first_per_debtor")
    )
    chosen = (
        select(first_per_debtor.c.id)
        .where(first_per_debtor.c.rank == 1)
        .order_by(
            first_per_debtor.c.priority.desc(),
            first_per_debtor.c.not_before,
            first_per_debtor.c.id,
        )
        .limit(batch_size)
    )
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(chosen))
        .values(
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        )
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    claimed = list(db_session.scalars(statement))
    db_session.commit()
    claimed.sort(key=lambda message: (-message.priority, message.not_before, message.id))
    return claimed


def give_up_abandoned_sends(db_session: Session, *, now: datetime, commit: bool = True) -> int:
    """Mark `in_doubt` every row still `sending` after its lease expired; return how many.

    `lease_owner` is kept: it names the sender that was sending, and lets that sender, if it
    was only slow, still record the delivery (`mark_sent`).
    """
    statement = (
        update(outbox)
        .where(outbox.c.status == OutboxStatus.SENDING, outbox.c.lease_expires_at <= now)
        .values(status=OutboxStatus.IN_DOUBT, last_error=IN_DOUBT, updated_at=now)
        .returning(outbox.c.id, outbox.c.channel)
    )
    abandoned = db_session.execute(statement).all()
    if abandoned:
        db_session.execute(
            insert(DeliveryAttempt.__table__),
            [
                dict(
                    outbox_id=row.id,
                    occurred_at=now,
                    channel=row.channel,
                    outcome=DeliveryOutcome.IN_DOUBT,
                    reason=IN_DOUBT,
                    detail="in flight when its sender stopped; not resent",
                )
                for row in abandoned
            ],
        )
    if commit:
        db_session.commit()
    return len(abandoned)


def release(db_session: Session, *, owner: str, message_ids: Iterable[int] | None = None) -> int:
    """Give back leases on rows `owner` claimed but did not start (a clean shutdown); commits."""
    statement = update(outbox).where(
        outbox.c.lease_owner == owner, outbox.c.status == OutboxStatus.PENDING
    )
    if message_ids is not None:
        statement = statement.where(outbox.c.id.in_(list(message_ids)))
    released = db_session.execute(
        statement.values(lease_owner=None, lease_expires_at=None)
    ).rowcount
    db_session.commit()
    return released


# Transitions (each: one conditional UPDATE and its DeliveryAttempt, then commit)


def start(
    db_session: Session,
    message: OutboxMessage,
    *,
    owner: str,
    now: datetime,
    channel: OutboundChannel,
    contact_id: int | None,
    lease_seconds: float = 60,
    skipped: Skipped = (),
) -> bool:
    """Commit `sending` on `channel` before the adapter is called; False when not ours.

    `skipped`: the channels the gate passed over for this one, recorded with their reasons.
    """
    won = _transition(
        db_session,
        message,
        owner=owner,
        expected=(OutboxStatus.PENDING,),
        values=dict(
            status=OutboxStatus.SENDING,
            attempts=outbox.c.attempts + 1,
            channel=channel,
            contact_id=contact_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        ),
        skipped=skipped,
        now=now,
    )
    if won:
        message.status = OutboxStatus.SENDING
        message.attempts += 1
        message.channel = channel
        message.contact_id = contact_id
    db_session.commit()
    return won


def mark_sent(
    db_session: Session, message: OutboxMessage, *, owner: str, now: datetime, provider_id: str
) -> bool:
    """Record the delivery the adapter just confirmed; releases the lease. Does not commit.

    The caller commits, so that the interaction log entry (`record_outbound`) lands in the
    same transaction: one round trip for everything a delivery writes.
    """
    won = _transition(
        db_session,
        message,
        owner=owner,
        expected=(OutboxStatus.SENDING, OutboxStatus.IN_DOUBT),
        values=dict(
            status=OutboxStatus.SENT,
            sent_at=now,
            provider_message_id=provider_id[:128],
            last_error=None,
            **_no_lease(now),
        ),
        attempt=(DeliveryOutcome.SENT, None, None),
        now=now,
        channel=message.channel,
    )
    if won:
        message.status = OutboxStatus.SENT
    return won


def defer(
    db_session: Session,
    message: OutboxMessage,
    *,
    owner: str,
    now: datetime,
    until: datetime,
    reason: str,
    outcome: DeliveryOutcome = DeliveryOutcome.DEFERRED,
    detail: str | None = None,
    channel: OutboundChannel | None = None,
) -> bool:
    """Back to `pending` until `until` (gate deferral or transient retry); commits."""
    won = _transition(
        db_session,
        message,
        owner=owner,
        expected=(OutboxStatus.PENDING, OutboxStatus.SENDING),
        values=dict(
            status=OutboxStatus.PENDING,
            not_before=until,
            last_error=reason if outcome is not DeliveryOutcome.DEFERRED else None,
            **_no_lease(now),
        ),
        attempt=(outcome, reason, detail),
        now=now,
        channel=channel,
    )
    db_session.commit()
    return won


def record_channel_failure(
    db_session: Session,
    message: OutboxMessage,
    *,
    owner: str,
    now: datetime,
    channel: OutboundChannel,
    reason: str,
    detail: str | None = None,
    outcome: DeliveryOutcome = DeliveryOutcome.PERMANENT_ERROR,
) -> bool:
    """A channel refused the message for good: back to `pending`, lease kept; commits.

    The sender then asks the gate for the next allowed channel, still holding the lease.
    """
    won = _transition(
        db_session,
        message,
        owner=owner,
        expected=(OutboxStatus.SENDING, OutboxStatus.PENDING),
        values=dict(status=OutboxStatus.PENDING, last_error=reason, updated_at=now),
        attempt=(outcome, reason, detail),
        now=now,
        channel=channel,
    )
    if won:
        message.status = OutboxStatus.PENDING
    db_session.commit()
    return won


def suppress(
    db_session: Session,
    message: OutboxMessage,
    *,
    owner: str,
    now: datetime,
    reason: str,
    skipped: Skipped = (),
) -> bool:
    """The gate said no, for `reason` (and why each channel was passed over): final; commits."""
    won = _transition(
        db_session,
        message,
        owner=owner,
        expected=(OutboxStatus.PENDING,),
        values=dict(status=OutboxStatus.SUPPRESSED, suppression_reason=reason, **_no_lease(now)),
        attempt=(DeliveryOutcome.SUPPRESSED, reason, None),
        now=now,
        skipped=skipped,
    )
    db_session.commit()
    return won


def suppress_many(
    db_session: Session,
    suppressions: list[tuple[OutboxMessage, str, Skipped]],
    *,
    owner: str,
    now: datetime,
) -> int:
    """`suppress` for many rows (message, reason, skipped) in one transaction; commits.

    One conditional UPDATE per distinct reason; returns how many rows were still ours.
    """
    by_reason: dict[str, list[int]] = {}
    for message, reason, _ in suppressions:
        by_reason.setdefault(reason, []).append(message.id)
    won: set[int] = set()
    for reason, ids in by_reason.items():
        statement = (
            update(outbox)
            .where(
                outbox.c.id.in_(ids),
                outbox.c.lease_owner == owner,
                outbox.c.status == OutboxStatus.PENDING,
            )
            .values(status=OutboxStatus.SUPPRESSED, suppression_reason=reason, **_no_lease(now))
            .returning(outbox.c.id)
        )
        won.update(db_session.scalars(statement))
    records = []
    for message, reason, skipped in suppressions:
        if message.id not in won:
            continue
        message.status = OutboxStatus.SUPPRESSED
        records += [
            (message.id, channel, DeliveryOutcome.SKIPPED_CHANNEL, why) for channel, why in skipped
        ]
        records.append((message.id, None, DeliveryOutcome.SUPPRESSED, reason))
    if records:
        db_session.execute(
            insert(DeliveryAttempt.__table__),
            [
                dict(
                    outbox_id=outbox_id,
                    occurred_at=now,
                    channel=channel,
                    outcome=outcome,
                    reason=reason[:48],
                    detail=None,
                )
                for outbox_id, channel, outcome, reason in records
            ],
        )
    db_session.commit()
    return len(won)


def fail(
    db_session: Session,
    message: OutboxMessage,
    *,
    owner: str,
    now: datetime,
    reason: str,
    detail: str | None = None,
) -> bool:
    """Every allowed channel failed for good: final, recorded; commits."""
    won = _transition(
        db_session,
        message,
        owner=owner,
        expected=(OutboxStatus.PENDING, OutboxStatus.SENDING),
        values=dict(status=OutboxStatus.FAILED, last_error=reason, **_no_lease(now)),
        attempt=(DeliveryOutcome.PERMANENT_ERROR, reason, detail),
        now=now,
    )
    db_session.commit()
    return won


def mark_in_doubt(
    db_session: Session, message: OutboxMessage, *, owner: str, now: datetime, reason: str
) -> bool:
    """The adapter failed in a way that may have delivered it: final, never resent; commits."""
    won = _transition(
        db_session,
        message,
        owner=owner,
        expected=(OutboxStatus.SENDING,),
        values=dict(status=OutboxStatus.IN_DOUBT, last_error=reason, updated_at=now),
        attempt=(DeliveryOutcome.IN_DOUBT, reason, IN_DOUBT),
        now=now,
        channel=message.channel,
    )
    db_session.commit()
    return won


def backoff_seconds(
    transient_failures: int,
    *,
    retry_after: float | None = None,
    base: float = 30.0,
    cap: float = 3600.0,
    rng: random.Random | None = None,
) -> float:
    """Wait before the next try after `transient_failures` (≥ 1) transient errors in a row.

    When the provider said when (`retry_after`, a 429), that, plus a little jitter so that
    the messages it refused do not all come back in the same second. Otherwise exponential
    with jitter (uniform between half and all of base·2^(n-1)), capped.
    """
    rng = rng or random
    if retry_after is not None:
        return retry_after + rng.uniform(0, 0.1 * retry_after + 1.0)
    ceiling = min(cap, base * 2 ** max(transient_failures - 1, 0))
    return rng.uniform(ceiling / 2, ceiling)


def _transition(
    db_session: Session,
    message: OutboxMessage,
    *,
    owner: str,
    expected: tuple[OutboxStatus, ...],
    values: dict,
    attempt: tuple[DeliveryOutcome, str | None, str | None] | None = None,
    now: datetime | None = None,
    channel: OutboundChannel | None = None,
    skipped: Skipped = (),
) -> bool:
    statement = (
        update(outbox)
        .where(
            and_(
                outbox.c.id == message.id,
                outbox.c.lease_owner == owner,
                outbox.c.status.in_(expected),
            )
        )
        .values(**values)
    )
    if db_session.execute(statement).rowcount != 1:
        return False
    records = [
        (skipped_channel, DeliveryOutcome.SKIPPED_CHANNEL, why, None)
        for skipped_channel, why in skipped
    ]
    if attempt is not None:
        records.append((channel, *attempt))
    if records:
        db_session.execute(
            insert(DeliveryAttempt.__table__),
            [
                dict(
                    outbox_id=message.id,
                    occurred_at=now,
                    channel=record_channel,
                    outcome=outcome,
                    reason=reason and reason[:48],
                    detail=detail and detail[:300],
                )
                for record_channel, outcome, reason, detail in records
            ],
        )
    return True


def _no_lease(now: datetime) -> dict:
    return dict(lease_owner=None, lease_expires_at=None, updated_at=now)
