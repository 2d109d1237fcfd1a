"""A 10,000-debt campaign: planned by two schedulers at once, sent by two senders at once.

The real planner, gate, renderer, sender processes and channel adapters, against recording
fakes of the Telegram Bot API and the WhatsApp Graph API, on a SQLite file. Asserts what the
debtors would notice: nobody gets a message twice, everybody who may be written to gets
exactly one, nobody who must not be written to gets any, and every suppression is recorded
with its reason.

SLOW BY DESIGN: two and a half minutes on two shared cores (five when other work keeps
them busy): the sender processes need about 20 ms of CPU per message sent. The fake Bot API
enforces Telegram's 30 messages a second per bot, answering 429 with `retry_after` beyond it
(each sender's adapter also paces itself at 30 a second; a 429 is retried after its
retry_after). The figures measured (sends per second, 429s) are printed (`pytest -s`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from backend.campaigns.planner import plan_due
from backend.db import make_engine, session_factory, utcnow
from backend.gateway.models import DeliveryAttempt, DeliveryOutcome, OutboxMessage, OutboxStatus
from backend.migrate import upgrade_to_head
from tests.campaign_world import SENT_GROUPS, SUPPRESSED_GROUPS, apply_suppressions, populate
from tests.fake_channels import RecordingBotApi, RecordingGraph, sender_environment, serving
from tests.stack import REPO

# 3,500 messages to send, 6,500 to suppress (each of the six reasons about 1,100 times).
SIZES = {
    "telegram": 1200,
    "whatsapp": 1800,
    "whatsapp_template": 500,
    **{group: 1100 for group in SUPPRESSED_GROUPS},
    "erased": 1000,
}
TELEGRAM_PER_SECOND = 30
CAMPAIGN_TIMEOUT = 600


def start_sender(env: dict, log: Path) -> subprocess.Popen:
    """A sender process, its output in `log` (a pipe nobody reads could block it)."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "backend.gateway.sender", "--idle-seconds", "0.5"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def plan_twice_at_once(engine, now) -> list:
    """Two schedulers planning the same campaign at the same moment."""
    reports, errors = [], []
    barrier = threading.Barrier(2)

    def plan() -> None:
        try:
            barrier.wait()
            with session_factory(engine)() as db_session:
                reports.append(plan_due(db_session, now))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=plan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    return reports


def unfinished(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            select(func.count()).where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
            )
        )


def test_a_10000_debt_campaign_reaches_everyone_allowed_exactly_once(tmp_path):
    assert sum(SIZES.values()) == 10_000
    url = f"sqlite:///{tmp_path / 'campaign.sqlite3'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    now = utcnow()
    setup_started = time.monotonic()
    world = populate(engine, now=now, sizes=SIZES)
    reports = plan_twice_at_once(engine, now)
    assert sum(report.queued for report in reports) == 10_000  # each debt queued once
    apply_suppressions(engine, world, now=now)  # paid, disputed… after planning

    setup_seconds = time.monotonic() - setup_started
    bot_api = RecordingBotApi(per_second=TELEGRAM_PER_SECOND)
    graph = RecordingGraph()
    with serving(bot_api, graph):
        env = {**os.environ, **sender_environment(url, bot_api, graph)}
        started = time.monotonic()
        logs = [tmp_path / "sender-1.log", tmp_path / "sender-2.log"]
        senders = [start_sender(env, log) for log in logs]
        try:
            deadline = started + CAMPAIGN_TIMEOUT
            while unfinished(engine) and time.monotonic() < deadline:
                assert all(sender.poll() is None for sender in senders), "a sender died"
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            for sender in senders:
                sender.send_signal(signal.SIGTERM)
            for sender in senders:
                sender.wait(timeout=60)
        finally:
            for sender in senders:
                if sender.poll() is None:
                    sender.kill()
    outputs = "\n".join(log.read_text(errors="replace") for log in logs)
    assert [sender.returncode for sender in senders] == [0, 0], outputs[-3000:]
    assert unfinished(engine) == 0, "the campaign did not finish in time"

    received = bot_api.counts() + graph.counts()
    assert [address for address, times in received.items() if times > 1] == []
    for debtor_id, group in world.group_of.items():
        expected = 1 if group in SENT_GROUPS else 0
        assert received[world.address_of[debtor_id]] == expected, (group, debtor_id)
    templates = {world.address_of[debtor] for debtor in world.debtors_in("whatsapp_template")}
    assert {to for to, kind, _ in graph.received if kind == "template"} == templates

    with session_factory(engine)() as db_session:
        rows = db_session.execute(
            select(OutboxMessage.id, OutboxMessage.debtor_id, OutboxMessage.status,
                   OutboxMessage.suppression_reason)
        ).all()  # fmt: skip
        recorded = dict(
            db_session.execute(
                select(DeliveryAttempt.outbox_id, DeliveryAttempt.reason).where(
                    DeliveryAttempt.outcome == DeliveryOutcome.SUPPRESSED
                )
            ).all()
        )
        sent_attempts = Counter(
            db_session.scalars(
                select(DeliveryAttempt.outbox_id).where(
                    DeliveryAttempt.outcome == DeliveryOutcome.SENT
                )
            )
        )
    engine.dispose()
    for message_id, debtor_id, status, reason in rows:
        group = world.group_of[debtor_id]
        if group in SENT_GROUPS:
            assert status is OutboxStatus.SENT and sent_attempts[message_id] == 1, group
        else:
            assert status is OutboxStatus.SUPPRESSED, (group, status)
            assert reason == recorded[message_id] == SUPPRESSED_GROUPS[group]
    sent = sum(1 for _, _, status, _ in rows if status is OutboxStatus.SENT)
    print(
        f"\n10k campaign: built and planned twice in {setup_seconds:.1f} s; "
        f"{sent} sent, {len(rows) - sent} suppressed in {elapsed:.1f} s "
        f"({sent / elapsed:.0f} sends/s with two senders; Telegram refused {bot_api.refused} "
        f"over {TELEGRAM_PER_SECOND}/s, retried)"
    )
