"""The sender process: claims due outbox rows, asks the compliance gate, renders, sends, records.

    python -m backend.gateway.sender [--once] [--batch N] [--lease-seconds S]

For each claimed batch: the gate's facts are loaded in one set-based query
(`contact_rules.load_facts`), then each message in priority order is decided
(`gate.decide`): suppressed and deferred ones are recorded; a message allowed on a channel is
rendered in the recipient's language, committed as `sending`, handed to that channel's adapter
and committed as `sent` together with its interaction-log entry. Messages are sent one at a
time, so a crash leaves at most one message of this process in doubt (`backend.gateway.outbox`
explains why that one is never resent).

Failures: a transient error (timeout, 5xx, 429) puts the message back with an exponential,
jittered, capped backoff that honours the provider's retry-after; after
`max_transient_attempts` on one channel, or at once on a permanent error, the gate is asked
again without that channel and the next allowed one is tried; when none is left the message
is `failed`. Every step is a `DeliveryAttempt` with its reason.

Several senders can run at once (claims skip each other's rows). `--once` drains what is due
now and exits (the campaign command uses it); otherwise it polls until SIGTERM or SIGINT,
which finish the message being sent and give back the leases of the rest. Logs carry ids,
channels and reason codes, never a debtor's name, address or amount.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings, get_settings
from backend.contacts.models import ChannelContact
from backend.db import make_engine, session_factory, utcnow
from backend.debtors.models import Debtor
from backend.gateway import outbox
from backend.gateway.channels.base import (
    RATE_LIMITED,
    ChannelAdapter,
    DeliveryUncertain,
    OutboundText,
    PermanentSendError,
    Recipient,
    TemplateCall,
    TransientSendError,
)
from backend.gateway.models import (
    DeliveryAttempt,
    DeliveryOutcome,
    OutboundChannel,
    OutboxMessage,
)
from backend.observability.logs import configure_logging

logger = logging.getLogger("acordo.sender")

NO_ADAPTER = "channel_unavailable"  # no adapter configured for the channel the gate chose
RENDER_ERROR = "render_error"
ADAPTER_ERROR = "adapter_error"  # the adapter raised something it should have mapped


@dataclass(frozen=True)
class SenderConfig:
    batch_size: int = 50
    lease_seconds: float = 60.0  # longer than any adapter's send may take
    max_transient_attempts: int = 5  # per channel, then the next channel is tried
    backoff_base_seconds: float = 30.0
    backoff_cap_seconds: float = 3600.0
    idle_seconds: float = 2.0  # poll interval when nothing is due


class Gate(Protocol):
    """The compliance gate as the sender uses it (`backend.campaigns` by default)."""

    def load_facts(
        self, db_session: Session, messages: list[OutboxMessage], now: datetime
    ) -> dict[int, tuple]: ...

    def decide(self, *facts: Any, now: datetime, skip_channels: frozenset) -> Any: ...


Render = Callable[..., Any]  # backend.campaigns.messages.render
RecordOutbound = Callable[..., Any]  # backend.gateway.inbound.record_outbound


@dataclass
class Totals:
    """What a sender did, by outcome (for the log and the campaign command)."""

    counts: Counter = field(default_factory=Counter)

    def add(self, outcome: str) -> None:
        self.counts[outcome] += 1

    def __str__(self) -> str:
        return " ".join(f"{key}={value}" for key, value in sorted(self.counts.items())) or "idle"


class _CampaignGate:
    """The real gate: facts from `contact_rules`, decisions from `gate`."""

    def __init__(self, settings: Settings) -> None:
        from backend.campaigns import contact_rules, gate

        self._settings = settings
        self._load_facts = contact_rules.load_facts
        self._decide = gate.decide

    def load_facts(self, db_session, messages, now):
        return self._load_facts(db_session, messages, now, settings=self._settings)

    def decide(self, *facts, now, skip_channels):
        return self._decide(*facts, now, skip_channels=skip_channels)


def new_owner() -> str:
    """hostname:pid:random, unique per sender process and short enough for `lease_owner`."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class Sender:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        adapters: dict[OutboundChannel, ChannelAdapter],
        settings: Settings,
        gate: Gate | None = None,
        render: Render | None = None,
        record_outbound: RecordOutbound | None = None,
        clock: Callable[[], datetime] = utcnow,
        config: SenderConfig = SenderConfig(),
        owner: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.adapters = adapters
        self.settings = settings
        self.gate = gate or _CampaignGate(settings)
        if render is None:
            from backend.campaigns.messages import render
        if record_outbound is None:
            from backend.gateway.inbound import record_outbound
        self.render = render
        self.record_outbound = record_outbound
        self.clock = clock
        self.config = config
        self.owner = owner or new_owner()
        self.totals = Totals()
        self.stopping = asyncio.Event()

    async def run(self, *, once: bool = False) -> Totals:
        """Send until nothing is due (`once`) or until `stop()`; return what was done."""
        while not self.stopping.is_set():
            handled = await self.send_one_batch()
            if handled == 0:
                if once:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), self.config.idle_seconds)
        return self.totals

    def stop(self) -> None:
        """Finish the message being sent, give back the other leases, then return from run."""
        self.stopping.set()

    async def send_one_batch(self) -> int:
        """Claim one batch and handle it; return how many rows were claimed."""
        with self.sessions() as db_session:
            batch = outbox.claim(
                db_session,
                owner=self.owner,
                now=self.clock(),
                batch_size=self.config.batch_size,
                lease_seconds=self.config.lease_seconds,
            )
            if not batch:
                return 0
            now = self.clock()
            facts = self.gate.load_facts(db_session, batch, now)
            history = _failures_by_channel(db_session, [message.id for message in batch])
            languages = _languages(db_session, batch)
            db_session.commit()  # end the read transaction: transitions start with a write
            to_deliver = self._suppress_at_once(db_session, batch, facts, history, now)
            for position, message in enumerate(to_deliver):
                if self.stopping.is_set():
                    unstarted = [later.id for later in to_deliver[position:]]
                    outbox.release(db_session, owner=self.owner, message_ids=unstarted)
                    break
                if message.id not in facts:
                    # Its debtor vanished (erased rows are kept, so this is a bug upstream).
                    self._fail(db_session, message, "no_facts", None)
                    continue
                await self._deliver(db_session, message, facts[message.id], history, languages)
            db_session.expunge_all()
            logger.info("batch of %d handled by %s: %s", len(batch), self.owner, self.totals)
            return len(batch)

    def _suppress_at_once(self, db_session, batch, facts, history, now) -> list[OutboxMessage]:
        """Record the batch's plain suppressions in one transaction; return the other rows.

        Nothing is sent for them, so nothing is in flight: one commit for all is as safe as
        one each, and a campaign suppresses many (paid, disputed, opted out…).
        """
        suppressions, others = [], []
        for message in batch:
            decision = None
            if message.id in facts and not history.permanent[message.id]:
                decision = self.gate.decide(*facts[message.id], now=now, skip_channels=frozenset())
            if decision is not None and _is_suppression(decision):
                suppressions.append((message, decision.reason, _skipped(decision)))
            else:
                others.append(message)
        if suppressions:
            outbox.suppress_many(db_session, suppressions, owner=self.owner, now=now)
            for _, reason, _ in suppressions:
                self.totals.add(f"suppressed:{reason}")
        return others

    async def _deliver(self, db_session, message, facts, history, languages) -> None:
        skip = set(history.permanent[message.id])
        transient = history.transient[message.id]
        while True:
            now = self.clock()
            decision = self.gate.decide(*facts, now=now, skip_channels=frozenset(skip))
            if _is_deferral(decision):
                outbox.defer(
                    db_session,
                    message,
                    owner=self.owner,
                    now=now,
                    until=decision.until,
                    reason=decision.reason,
                )
                self.totals.add("deferred")
                return
            if _is_suppression(decision):
                if skip:  # the channels that were left all failed: nothing else to try
                    self._fail(db_session, message, outbox.NO_CHANNEL_LEFT, decision.reason)
                else:
                    outbox.suppress(
                        db_session,
                        message,
                        owner=self.owner,
                        now=now,
                        reason=decision.reason,
                        skipped=_skipped(decision),
                    )
                    self.totals.add(f"suppressed:{decision.reason}")
                return
            route = decision.route
            channel = OutboundChannel(route.channel)
            if channel in skip:  # the gate ignored skip_channels: never loop on it
                self._fail(db_session, message, outbox.NO_CHANNEL_LEFT, channel.value)
                return
            refusal = self._refusal(channel, transient[channel])
            language = languages.get(route.contact_id) or languages[("debtor", message.debtor_id)]
            recipient = Recipient(
                channel=channel,
                address=route.address,
                contact_id=route.contact_id,
                language=language,
                debtor_id=message.debtor_id,
            )
            if refusal is None:
                try:
                    rendered = self.render(
                        db_session,
                        message,
                        language=recipient.language,
                        channel=channel,
                        settings=self.settings,
                        now=now,
                    )
                except Exception as exc:  # one bad row must not stop the queue behind it
                    logger.error("outbox %d: render failed (%s)", message.id, type(exc).__name__)
                    db_session.rollback()
                    self._fail(db_session, message, RENDER_ERROR, type(exc).__name__)
                    return
                outbound = self._outbound(message, rendered, recipient, decision.template_only)
            if refusal is not None:
                outbox.record_channel_failure(
                    db_session,
                    message,
                    owner=self.owner,
                    now=now,
                    channel=channel,
                    reason=refusal,
                )
                skip.add(channel)
                continue
            db_session.commit()  # rendering read; the start below must begin a transaction
            if not outbox.start(
                db_session,
                message,
                owner=self.owner,
                now=now,
                channel=channel,
                contact_id=route.contact_id,
                lease_seconds=self.config.lease_seconds,
                skipped=_skipped(decision),
            ):
                logger.warning("outbox %d: lease lost before sending; skipped", message.id)
                self.totals.add("lease_lost")
                return
            try:
                provider_id = await self.adapters[channel].send(recipient, outbound)
            except TransientSendError as exc:
                transient[channel] += 1
                self._retry_later(db_session, message, channel, exc, transient[channel])
                return
            except PermanentSendError as exc:
                logger.info("outbox %d: %s refused it (%s)", message.id, channel.value, exc.reason)
                outbox.record_channel_failure(
                    db_session,
                    message,
                    owner=self.owner,
                    now=self.clock(),
                    channel=channel,
                    reason=exc.reason,
                    detail=exc.detail,
                )
                skip.add(channel)
                continue
            except DeliveryUncertain as exc:
                logger.warning("outbox %d: no answer from %s", message.id, channel.value)
                outbox.mark_in_doubt(
                    db_session, message, owner=self.owner, now=self.clock(), reason=exc.reason
                )
                self.totals.add("in_doubt")
                return
            except Exception as exc:  # unmapped: maybe delivered, so never retried
                logger.error("outbox %d: adapter raised %s", message.id, type(exc).__name__)
                outbox.mark_in_doubt(
                    db_session, message, owner=self.owner, now=self.clock(), reason=ADAPTER_ERROR
                )
                self.totals.add("in_doubt")
                return
            sent_at = self.clock()
            if outbox.mark_sent(
                db_session, message, owner=self.owner, now=sent_at, provider_id=provider_id
            ):
                self.record_outbound(
                    db_session,
                    message=message,
                    recipient=recipient,
                    rendered=rendered,
                    provider_message_id=provider_id,
                    now=sent_at,
                )
                self.totals.add(f"sent:{channel.value}")
            else:
                logger.warning("outbox %d: delivered after its lease was lost", message.id)
                self.totals.add("lease_lost")
            db_session.commit()
            return

    def _refusal(self, channel: OutboundChannel, transient_failures: int) -> str | None:
        adapter = self.adapters.get(channel)
        if adapter is None or not adapter.available():
            return NO_ADAPTER
        if transient_failures >= self.config.max_transient_attempts:
            return outbox.RETRIES_EXHAUSTED
        return None

    @staticmethod
    def _outbound(message, rendered, recipient: Recipient, template_only: bool) -> OutboundText:
        template = None
        if template_only and recipient.channel is OutboundChannel.WHATSAPP:
            # The adapter picks the approved template configured for the language.
            template = TemplateCall(parameters=list(rendered.template_parameters))
        return OutboundText(
            text=rendered.text,
            buttons=list(rendered.buttons),
            subject=rendered.subject,
            template=template,
            outbox_id=message.id,
            kind=message.kind.value,
        )

    def _retry_later(self, db_session, message, channel, exc: TransientSendError, failures: int):
        now = self.clock()
        wait = outbox.backoff_seconds(
            failures,
            retry_after=exc.retry_after,
            base=self.config.backoff_base_seconds,
            cap=self.config.backoff_cap_seconds,
        )
        outbox.defer(
            db_session,
            message,
            owner=self.owner,
            now=now,
            until=now + timedelta(seconds=wait),
            reason=exc.reason,
            detail=exc.detail,
            outcome=DeliveryOutcome.TRANSIENT_ERROR,
            channel=channel,
        )
        self.totals.add("retry")

    def _fail(self, db_session, message, reason: str, detail: str | None) -> None:
        outbox.fail(
            db_session, message, owner=self.owner, now=self.clock(), reason=reason, detail=detail
        )
        self.totals.add(f"failed:{reason}")


# The gate's decisions told apart by shape, so tests may hand in their own gate.
def _is_deferral(decision) -> bool:
    return hasattr(decision, "until")


def _is_suppression(decision) -> bool:
    return not hasattr(decision, "route") and not hasattr(decision, "until")


def _skipped(decision) -> list[tuple[OutboundChannel, str]]:
    """The channels the gate passed over before its answer, and why (recorded)."""
    return [(skip.channel, skip.reason) for skip in getattr(decision, "skipped", ())]


@dataclass
class _History:
    """Earlier failures of each message, by channel: what to skip, how often it was retried."""

    permanent: dict[int, set[OutboundChannel]]
    transient: dict[int, Counter]


def _failures_by_channel(db_session: Session, ids: list[int]) -> _History:
    history = _History(permanent=defaultdict(set), transient=defaultdict(Counter))
    rows = db_session.execute(
        select(
            DeliveryAttempt.outbox_id,
            DeliveryAttempt.channel,
            DeliveryAttempt.outcome,
            func.count(),
        )
        .where(
            DeliveryAttempt.outbox_id.in_(ids),
            DeliveryAttempt.channel.is_not(None),
            # Not SKIPPED_CHANNEL: the gate's reasons to pass a channel over may change.
            DeliveryAttempt.outcome.in_(
                [DeliveryOutcome.TRANSIENT_ERROR, DeliveryOutcome.PERMANENT_ERROR]
            ),
            # A 429 only says "later": several senders sharing one bot's limit meet it often.
            or_(DeliveryAttempt.reason.is_(None), DeliveryAttempt.reason != RATE_LIMITED),
        )
        .group_by(DeliveryAttempt.outbox_id, DeliveryAttempt.channel, DeliveryAttempt.outcome)
    )
    for outbox_id, channel, outcome, count in rows:
        if outcome is DeliveryOutcome.TRANSIENT_ERROR:
            history.transient[outbox_id][channel] = count
        else:
            history.permanent[outbox_id].add(channel)
    return history


def _languages(db_session: Session, batch: list[OutboxMessage]) -> dict:
    """Each contact's conversation language, and each debtor's preferred one as the fallback."""
    debtor_ids = {message.debtor_id for message in batch}
    languages: dict = {}
    for debtor_id, language in db_session.execute(
        select(Debtor.id, Debtor.preferred_language).where(Debtor.id.in_(debtor_ids))
    ):
        languages[("debtor", debtor_id)] = language.value
    for contact_id, language in db_session.execute(
        select(ChannelContact.id, ChannelContact.language).where(
            ChannelContact.debtor_id.in_(debtor_ids), ChannelContact.language.is_not(None)
        )
    ):
        languages[contact_id] = language.value
    return languages


async def send_due(
    settings: Settings,
    *,
    once: bool = True,
    config: SenderConfig = SenderConfig(),
    install_signal_handlers: bool = False,
) -> Totals:
    """Run a sender on the configured database and channels (the campaign command's entry)."""
    from backend.gateway.channels import build_adapters

    engine = make_engine(settings.database_url, timeout_seconds=settings.database_timeout_seconds)
    adapters = build_adapters(settings)
    sender = Sender(
        sessions=session_factory(engine), adapters=adapters, settings=settings, config=config
    )
    if install_signal_handlers:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, sender.stop)
    logger.info("sender %s started", sender.owner)
    try:
        return await sender.run(once=once)
    finally:
        with session_factory(engine)() as db_session:
            outbox.release(db_session, owner=sender.owner)
        for adapter in adapters.values():
            await adapter.aclose()
        engine.dispose()
        logger.info("sender %s stopped: %s", sender.owner, sender.totals)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Send the outbox's due messages.")
    parser.add_argument("--once", action="store_true", help="send what is due now, then exit")
    parser.add_argument("--batch", type=int, default=SenderConfig.batch_size)
    parser.add_argument("--lease-seconds", type=float, default=SenderConfig.lease_seconds)
    parser.add_argument("--idle-seconds", type=float, default=SenderConfig.idle_seconds)
    args = parser.parse_args(argv)
    configure_logging("sender")
    config = SenderConfig(
        batch_size=args.batch, lease_seconds=args.lease_seconds, idle_seconds=args.idle_seconds
    )
    asyncio.run(
        send_due(get_settings(), once=args.once, config=config, install_signal_handlers=True)
    )


if __name__ == "__main__":
    main()
