"""The outbox: idempotent enqueueing, leases that never hand one row to two senders, in-doubt
rows never resent, retries with backoff and fallback to the next channel, all recorded."""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from backend.db import session_factory
from backend.gateway import outbox
from backend.gateway.channels.base import (
    DeliveryUncertain,
    PermanentSendError,
    TransientSendError,
)
from backend.gateway.models import (
    DeliveryAttempt,
    DeliveryOutcome,
    MessageKind,
    OutboundChannel,
    OutboxMessage,
    OutboxStatus,
)
from backend.gateway.sender import Sender, SenderConfig
from tests import factories

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=timezone.utc)
A, B = "host:1:aaaa", "host:2:bbbb"


def debtors(db_session, count: int) -> list[int]:
    owner = factories.creditor(db_session)
    ids = [factories.debtor(db_session, owner).id for _ in range(count)]
    db_session.commit()
    return ids


def row(debtor_id: int, key: str, *, priority: int = 0, not_before: datetime = NOW) -> dict:
    return dict(
        dedupe_key=key,
        kind=MessageKind.REMINDER,
        debtor_id=debtor_id,
        debt_id=None,
        level=1,
        scheduled_for=date(2026, 3, 10),
        not_before=not_before,
        priority=priority,
    )


def queue(db_session, rows: list[dict]) -> None:
    outbox.enqueue_many(db_session, rows)
    db_session.commit()


def statuses(db_session) -> dict[int, OutboxStatus]:
    db_session.expire_all()
    return dict(db_session.execute(select(OutboxMessage.id, OutboxMessage.status)).all())


def attempts(db_session, message_id: int) -> list[tuple]:
    query = (
        select(DeliveryAttempt.channel, DeliveryAttempt.outcome, DeliveryAttempt.reason)
        .where(DeliveryAttempt.outbox_id == message_id)
        .order_by(DeliveryAttempt.id)
    )
    return [tuple(found) for found in db_session.execute(query)]


def test_enqueueing_the_same_key_twice_keeps_one_row(db_session):
    (debtor_id,) = debtors(db_session, 1)
    assert outbox.enqueue(db_session, **row(debtor_id, "reminder:1:1:2026-03-10")) is True
    assert outbox.enqueue(db_session, **row(debtor_id, "reminder:1:1:2026-03-10")) is False
    db_session.commit()
    assert len(statuses(db_session)) == 1


def test_enqueue_many_counts_only_new_rows(db_session):
    ids = debtors(db_session, 3)
    first = [row(debtor_id, f"k{n}") for n, debtor_id in enumerate(ids)]
    assert outbox.enqueue_many(db_session, first) == 3
    assert outbox.enqueue_many(db_session, first + [row(ids[0], "k-new")]) == 1
    db_session.commit()
    assert set(statuses(db_session).values()) == {OutboxStatus.PENDING}
    assert len(statuses(db_session)) == 4


def test_claims_go_by_priority_and_not_before_and_skip_what_is_not_due(db_session):
    ids = debtors(db_session, 4)
    queue(
        db_session,
        [
            row(ids[0], "low", priority=10),
            row(ids[1], "high", priority=900),
            row(ids[2], "later", priority=5000, not_before=NOW + timedelta(minutes=1)),
            row(ids[3], "older", priority=10, not_before=NOW - timedelta(hours=1)),
        ],
    )
    claimed = outbox.claim(db_session, owner=A, now=NOW, batch_size=10)
    assert [message.dedupe_key for message in claimed] == ["high", "older", "low"]
    assert all(message.lease_owner == A for message in claimed)


def test_a_claim_takes_one_row_per_debtor_and_none_of_a_debtor_someone_holds(db_session):
    first, second = debtors(db_session, 2)
    queue(db_session, [row(first, "a1"), row(first, "a2"), row(second, "b1")])
    claimed = outbox.claim(db_session, owner=A, now=NOW, batch_size=10)
    assert sorted(message.debtor_id for message in claimed) == [first, second]
    # A still holds one row of each debtor: B gets nothing, even though a2 or b… is due.
    assert outbox.claim(db_session, owner=B, now=NOW, batch_size=10) == []


@pytest.mark.parametrize("senders", [2])
def test_two_senders_claiming_at_once_never_get_the_same_row(engine, db_session, senders):
    ids = debtors(db_session, 20)
    queue(db_session, [row(debtor_id, f"m{debtor_id}:{n}") for debtor_id in ids for n in range(5)])
    sessions = session_factory(engine)
    handled: dict[str, list[int]] = {f"sender-{n}": [] for n in range(senders)}
    errors: list[BaseException] = []
    barrier = threading.Barrier(senders)

    def work(owner: str) -> None:
        try:
            barrier.wait()
            with sessions() as session:
                while batch := outbox.claim(session, owner=owner, now=NOW, batch_size=7):
                    for message in batch:
                        assert outbox.start(
                            session, message, owner=owner, now=NOW,
                            channel=OutboundChannel.TELEGRAM, contact_id=None,
                        )  # fmt: skip
                        assert outbox.mark_sent(
                            session, message, owner=owner, now=NOW, provider_id="p"
                        )
                        session.commit()
                        handled[owner].append(message.id)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(owner,)) for owner in handled]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    everything = [message_id for ids_ in handled.values() for message_id in ids_]
    assert len(everything) == len(set(everything)) == 100
    assert set(statuses(db_session).values()) == {OutboxStatus.SENT}


def test_an_expired_lease_on_an_unstarted_row_is_claimed_again_and_the_old_owner_loses_it(
    db_session,
):
    (debtor_id,) = debtors(db_session, 1)
    queue(db_session, [row(debtor_id, "k")])
    (mine,) = outbox.claim(db_session, owner=A, now=NOW, lease_seconds=60)
    assert outbox.claim(db_session, owner=B, now=NOW + timedelta(seconds=30)) == []
    (theirs,) = outbox.claim(db_session, owner=B, now=NOW + timedelta(seconds=61))
    assert theirs.id == mine.id and theirs.lease_owner == B
    started = dict(now=NOW, channel=OutboundChannel.TELEGRAM, contact_id=None)
    assert outbox.start(db_session, mine, owner=A, **started) is False
    assert outbox.start(db_session, theirs, owner=B, **started) is True


def test_a_row_left_sending_becomes_in_doubt_and_is_never_claimed_again(db_session):
    (debtor_id,) = debtors(db_session, 1)
    queue(db_session, [row(debtor_id, "k")])
    (message,) = outbox.claim(db_session, owner=A, now=NOW, lease_seconds=60)
    outbox.start(
        db_session, message, owner=A, now=NOW, channel=OutboundChannel.WHATSAPP, contact_id=None
    )
    # A is killed here. Later, B claims: nothing to send, and the row is recorded in doubt.
    later = NOW + timedelta(minutes=5)
    assert outbox.claim(db_session, owner=B, now=later) == []
    assert statuses(db_session) == {message.id: OutboxStatus.IN_DOUBT}
    assert attempts(db_session, message.id) == [
        (OutboundChannel.WHATSAPP, DeliveryOutcome.IN_DOUBT, outbox.IN_DOUBT)
    ]
    assert outbox.claim(db_session, owner=B, now=later + timedelta(days=1)) == []
    # Had A only been slow, what it knows (delivered) is still recorded.
    assert outbox.mark_sent(db_session, message, owner=A, now=later, provider_id="p")
    db_session.commit()
    assert statuses(db_session) == {message.id: OutboxStatus.SENT}


def test_only_the_lease_owner_moves_a_row(db_session):
    (debtor_id,) = debtors(db_session, 1)
    queue(db_session, [row(debtor_id, "k")])
    (message,) = outbox.claim(db_session, owner=A, now=NOW)
    assert not outbox.suppress(db_session, message, owner=B, now=NOW, reason="opted_out")
    assert not outbox.defer(
        db_session, message, owner=B, now=NOW, until=NOW + timedelta(hours=1), reason="x"
    )
    assert not outbox.fail(db_session, message, owner=B, now=NOW, reason="x")
    assert outbox.suppress_many(db_session, [(message, "debt_paid", ())], owner=B, now=NOW) == 0
    started = dict(now=NOW, channel=OutboundChannel.TELEGRAM, contact_id=None)
    assert not outbox.start(db_session, message, owner=B, **started)
    assert outbox.start(db_session, message, owner=A, **started)
    assert not outbox.mark_sent(db_session, message, owner=B, now=NOW, provider_id="p")
    db_session.commit()
    assert statuses(db_session) == {message.id: OutboxStatus.SENDING}
    assert attempts(db_session, message.id) == []


def test_a_clean_stop_gives_back_unstarted_leases_only(db_session):
    ids = debtors(db_session, 2)
    queue(db_session, [row(ids[0], "a"), row(ids[1], "b")])
    first, second = outbox.claim(db_session, owner=A, now=NOW)
    outbox.start(
        db_session, first, owner=A, now=NOW, channel=OutboundChannel.TELEGRAM, contact_id=None
    )
    assert outbox.release(db_session, owner=A) == 1
    (again,) = outbox.claim(db_session, owner=B, now=NOW)
    assert again.id == second.id


def test_backoff_grows_is_capped_jittered_and_honours_retry_after():
    rng = random.Random(7)
    waits = [outbox.backoff_seconds(n, base=30, cap=600, rng=rng) for n in range(1, 10)]
    assert 15 <= waits[0] <= 30
    assert 60 <= waits[2] <= 120
    assert all(300 <= wait <= 600 for wait in waits[5:])
    assert 900 <= outbox.backoff_seconds(1, retry_after=900, base=30, cap=600, rng=rng) <= 991
    assert 1 <= outbox.backoff_seconds(4, retry_after=1, rng=rng) <= 2.1


# The sender's decisions, with an in-test gate, renderer and adapters


@dataclass(frozen=True)
class Route:
    channel: OutboundChannel
    contact_id: int | None
    address: str


@dataclass(frozen=True)
class Send:
    route: Route
    template_only: bool = False


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str


@dataclass(frozen=True)
class Suppress:
    reason: str


class OrderGate:
    """Allows the channels in order, minus the skipped ones; or a fixed decision."""

    def __init__(self, order=(OutboundChannel.TELEGRAM, OutboundChannel.WHATSAPP), fixed=None):
        self.order = order
        self.fixed = fixed
        self.asked: list[frozenset] = []

    def load_facts(self, db_session, messages, now):
        return {message.id: (message.id,) for message in messages}

    def decide(self, message_id, *, now, skip_channels):
        self.asked.append(skip_channels)
        if self.fixed is not None:
            return self.fixed
        for channel in self.order:
            if channel not in skip_channels:
                return Send(Route(channel, None, f"{channel.value}-address"))
        return Suppress("no_reachable_channel")


class ScriptedAdapter:
    def __init__(self, channel: OutboundChannel, *outcomes) -> None:
        self.channel = channel
        self.outcomes = list(outcomes)
        self.sent: list = []

    def available(self) -> bool:
        return True

    async def send(self, recipient, message) -> str:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Exception):
            raise outcome
        self.sent.append((recipient.address, message.text))
        return f"{self.channel.value}-{len(self.sent)}"

    async def aclose(self) -> None:
        pass


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def rendered(db_session, message, *, language, channel, settings, now):
    return SimpleNamespace(
        text=f"reminder {message.id} in {language}",
        subject="",
        buttons=[],
        template_parameters=[],
        debt_reference=None,
    )


def make_sender(engine, settings, gate, *adapters, clock=None, **config) -> Sender:
    recorded: list = []
    sender = Sender(
        sessions=session_factory(engine),
        adapters={adapter.channel: adapter for adapter in adapters},
        settings=settings,
        gate=gate,
        render=rendered,
        record_outbound=lambda db_session, **kwargs: recorded.append(kwargs),
        clock=clock or Clock(NOW),
        config=SenderConfig(backoff_base_seconds=30, **config),
        owner=A,
    )
    sender.recorded = recorded
    return sender


def one_message(db_session) -> int:
    (debtor_id,) = debtors(db_session, 1)
    queue(db_session, [row(debtor_id, "k")])
    return db_session.scalar(select(OutboxMessage.id))


def test_a_transient_error_retries_later_on_the_same_channel(engine, db_session, settings):
    message_id = one_message(db_session)
    telegram = ScriptedAdapter(
        OutboundChannel.TELEGRAM, TransientSendError("rate_limited", retry_after=120)
    )
    clock = Clock(NOW)
    sender = make_sender(engine, settings, OrderGate(), telegram, clock=clock)
    asyncio.run(sender.run(once=True))
    db_session.expire_all()
    waiting = db_session.get(OutboxMessage, message_id)
    assert waiting.status is OutboxStatus.PENDING and waiting.lease_owner is None
    assert waiting.not_before >= NOW + timedelta(seconds=120)
    clock.now = waiting.not_before
    asyncio.run(sender.run(once=True))
    assert telegram.sent == [("telegram-address", f"reminder {message_id} in pt_BR")]
    assert statuses(db_session) == {message_id: OutboxStatus.SENT}
    assert attempts(db_session, message_id) == [
        (OutboundChannel.TELEGRAM, DeliveryOutcome.TRANSIENT_ERROR, "rate_limited"),
        (OutboundChannel.TELEGRAM, DeliveryOutcome.SENT, None),
    ]
    assert [call["provider_message_id"] for call in sender.recorded] == ["telegram-1"]


def test_too_many_transient_errors_move_to_the_next_channel(engine, db_session, settings):
    message_id = one_message(db_session)
    telegram = ScriptedAdapter(
        OutboundChannel.TELEGRAM, *[TransientSendError("timeout") for _ in range(2)]
    )
    whatsapp = ScriptedAdapter(OutboundChannel.WHATSAPP)
    clock = Clock(NOW)
    sender = make_sender(
        engine, settings, OrderGate(), telegram, whatsapp, clock=clock, max_transient_attempts=2
    )
    for _ in range(3):
        asyncio.run(sender.run(once=True))
        clock.now += timedelta(hours=2)  # past any backoff
    assert telegram.sent == [] and len(whatsapp.sent) == 1
    assert [outcome for _, outcome, _ in attempts(db_session, message_id)] == [
        DeliveryOutcome.TRANSIENT_ERROR,
        DeliveryOutcome.TRANSIENT_ERROR,
        DeliveryOutcome.PERMANENT_ERROR,  # retries_exhausted on Telegram
        DeliveryOutcome.SENT,
    ]
    assert attempts(db_session, message_id)[2][2] == outbox.RETRIES_EXHAUSTED


def test_a_permanent_error_falls_back_at_once_and_then_fails_when_none_is_left(
    engine, db_session, settings
):
    message_id = one_message(db_session)
    telegram = ScriptedAdapter(OutboundChannel.TELEGRAM, PermanentSendError("bot_blocked"))
    whatsapp = ScriptedAdapter(OutboundChannel.WHATSAPP, PermanentSendError("not_on_whatsapp"))
    gate = OrderGate()
    sender = make_sender(engine, settings, gate, telegram, whatsapp)
    asyncio.run(sender.run(once=True))
    assert statuses(db_session) == {message_id: OutboxStatus.FAILED}
    assert attempts(db_session, message_id) == [
        (OutboundChannel.TELEGRAM, DeliveryOutcome.PERMANENT_ERROR, "bot_blocked"),
        (OutboundChannel.WHATSAPP, DeliveryOutcome.PERMANENT_ERROR, "not_on_whatsapp"),
        (None, DeliveryOutcome.PERMANENT_ERROR, outbox.NO_CHANNEL_LEFT),
    ]
    assert list(dict.fromkeys(gate.asked)) == [
        frozenset(),
        frozenset({OutboundChannel.TELEGRAM}),
        frozenset({OutboundChannel.TELEGRAM, OutboundChannel.WHATSAPP}),
    ]


def test_suppressions_and_deferrals_are_recorded_with_their_reason(engine, db_session, settings):
    message_id = one_message(db_session)
    telegram = ScriptedAdapter(OutboundChannel.TELEGRAM)
    later = NOW + timedelta(hours=18)
    asyncio.run(
        make_sender(engine, settings, OrderGate(fixed=Defer(later, "outside_hours")), telegram).run(
            once=True
        )
    )
    db_session.expire_all()
    assert db_session.get(OutboxMessage, message_id).not_before == later
    clock = Clock(later)
    gate = OrderGate(fixed=Suppress("dispute_open"))
    asyncio.run(make_sender(engine, settings, gate, telegram, clock=clock).run(once=True))
    db_session.expire_all()
    suppressed = db_session.get(OutboxMessage, message_id)
    assert suppressed.status is OutboxStatus.SUPPRESSED
    assert suppressed.suppression_reason == "dispute_open"
    assert attempts(db_session, message_id) == [
        (None, DeliveryOutcome.DEFERRED, "outside_hours"),
        (None, DeliveryOutcome.SUPPRESSED, "dispute_open"),
    ]
    assert telegram.sent == []


def test_an_adapter_that_raises_something_unexpected_leaves_the_message_in_doubt(
    engine, db_session, settings
):
    message_id = one_message(db_session)
    telegram = ScriptedAdapter(OutboundChannel.TELEGRAM, RuntimeError("connection reset"))
    asyncio.run(make_sender(engine, settings, OrderGate(), telegram).run(once=True))
    assert statuses(db_session) == {message_id: OutboxStatus.IN_DOUBT}
    asyncio.run(make_sender(engine, settings, OrderGate(), telegram).run(once=True))
    assert telegram.sent == []


def test_a_request_that_timed_out_after_sending_is_in_doubt_not_retried(
    engine, db_session, settings
):
    message_id = one_message(db_session)
    telegram = ScriptedAdapter(OutboundChannel.TELEGRAM, DeliveryUncertain("no_answer"))
    whatsapp = ScriptedAdapter(OutboundChannel.WHATSAPP)
    gate = OrderGate(order=(OutboundChannel.TELEGRAM, OutboundChannel.WHATSAPP))
    asyncio.run(make_sender(engine, settings, gate, telegram, whatsapp).run(once=True))
    assert statuses(db_session) == {message_id: OutboxStatus.IN_DOUBT}
    # Not on the next channel either: the first copy may have arrived.
    assert whatsapp.sent == []


def test_one_run_goes_on_past_a_batch_that_was_all_suppressed(engine, db_session, settings):
    ids = debtors(db_session, 5)
    queue(db_session, [row(debtor_id, f"k{debtor_id}") for debtor_id in ids])
    gate = OrderGate(fixed=Suppress("debt_paid"))
    sender = make_sender(engine, settings, gate, ScriptedAdapter(OutboundChannel.TELEGRAM))
    sender.config = SenderConfig(batch_size=2)
    asyncio.run(sender.run(once=True))
    assert set(statuses(db_session).values()) == {OutboxStatus.SUPPRESSED}
    assert len(statuses(db_session)) == 5


def test_rate_limit_answers_never_make_the_sender_give_up_a_channel(engine, db_session, settings):
    """Several senders share one bot's limit: a 429 says "later", however often it comes."""
    message_id = one_message(db_session)
    telegram = ScriptedAdapter(
        OutboundChannel.TELEGRAM,
        *[TransientSendError("rate_limited", retry_after=1) for _ in range(4)],
    )
    whatsapp = ScriptedAdapter(OutboundChannel.WHATSAPP)
    clock = Clock(NOW)
    sender = make_sender(
        engine, settings, OrderGate(), telegram, whatsapp, clock=clock, max_transient_attempts=2
    )
    for _ in range(5):
        asyncio.run(sender.run(once=True))
        clock.now += timedelta(minutes=1)  # past each retry-after
    assert whatsapp.sent == [] and len(telegram.sent) == 1
    assert statuses(db_session) == {message_id: OutboxStatus.SENT}
