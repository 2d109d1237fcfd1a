"""A sender killed with SIGKILL mid-campaign and restarted delivers every message exactly once.

The real sender process (`python -m backend.gateway.sender`) with the real gate, renderer and
channel adapters, against recording fakes of the Telegram Bot API and the WhatsApp Graph API
on 127.0.0.1, on a real SQLite file and on the throwaway PostgreSQL. The fakes live in the test
process, so they count what a person received even from the sender that was killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.db import make_engine, session_factory, utcnow
from backend.gateway.models import DeliveryAttempt, DeliveryOutcome, OutboxMessage, OutboxStatus
from backend.migrate import upgrade_to_head
from tests.campaign_world import populate, queue_reminders
from tests.fake_channels import RecordingBotApi, RecordingGraph, sender_environment, serving
from tests.stack import REPO

LEASE_SECONDS = 3  # short, so that the restarted sender finds the dead one's leases expired
SIZES = {"telegram": 200, "whatsapp": 150, "whatsapp_template": 50}
KILL_AFTER = 120  # messages received before the SIGKILL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"crash_{uuid.uuid4().hex[:12]}")
    upgrade_to_head(url)
    yield url


def start_sender(env: dict, log: Path, *args: str) -> subprocess.Popen:
    """The sender process, its output in `log` (a pipe nobody reads could block it)."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "backend.gateway.sender", "--lease-seconds", str(LEASE_SECONDS)]
            + list(args),
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_until(
    condition: Callable[[], bool], process: subprocess.Popen, log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            output = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"the sender exited ({process.returncode}) too early:\n{output}")
        if time.monotonic() > deadline:
            pytest.fail("the sender did not get that far in time")
        time.sleep(0.01)


def test_a_sender_killed_mid_campaign_and_restarted_sends_every_message_exactly_once(
    database_url, tmp_path
):
    log = tmp_path / "sender.log"
    now = utcnow()
    engine = make_engine(database_url)
    world = populate(engine, now=now, sizes=SIZES)
    total = queue_reminders(engine, world, now=now)
    assert total == sum(SIZES.values())
    bot_api, graph = RecordingBotApi(), RecordingGraph()

    def received() -> int:
        return len(bot_api.received) + len(graph.received)

    with serving(bot_api, graph):
        env = {**os.environ, **sender_environment(database_url, bot_api, graph)}
        first = start_sender(env, log)
        try:
            wait_until(lambda: received() >= KILL_AFTER, first, log, timeout=180)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        received_at_kill = received()
        time.sleep(LEASE_SECONDS + 0.5)  # the dead sender's leases expire
        second = start_sender(env, log, "--once")
        second.wait(timeout=300)
        assert second.returncode == 0, log.read_text(errors="replace")[-3000:]

    assert received_at_kill < total, "the campaign had finished before the kill"
    delivered = bot_api.counts() + graph.counts()
    assert [address for address, times in delivered.items() if times > 1] == []

    with session_factory(engine)() as db_session:
        rows = db_session.execute(
            select(OutboxMessage.id, OutboxMessage.debtor_id, OutboxMessage.status)
        ).all()
        sent_attempts = Counter(
            db_session.scalars(
                select(DeliveryAttempt.outbox_id).where(
                    DeliveryAttempt.outcome == DeliveryOutcome.SENT
                )
            )
        )
        leftover_leases = db_session.scalar(
            select(func.count()).where(OutboxMessage.lease_owner.is_not(None))
            .where(OutboxMessage.status != OutboxStatus.IN_DOUBT)
        )  # fmt: skip
    engine.dispose()
    by_status = Counter(status for _, _, status in rows)
    assert set(by_status) <= {OutboxStatus.SENT, OutboxStatus.IN_DOUBT}, by_status
    assert by_status[OutboxStatus.IN_DOUBT] <= 1  # one sender killed once: one message in flight
    for message_id, debtor_id, status in rows:
        address = world.address_of[debtor_id]
        if status is OutboxStatus.SENT:
            assert delivered[address] == 1, f"outbox {message_id} sent but not received once"
            assert sent_attempts[message_id] == 1
        else:
            assert delivered[address] <= 1
    assert leftover_leases == 0
    # Outside WhatsApp's 24-hour window only the approved template went out.
    template_numbers = {
        world.address_of[debtor] for debtor in world.debtors_in("whatsapp_template")
    }
    kinds = {(to in template_numbers, kind) for to, kind, _ in graph.received}
    assert kinds <= {(True, "template"), (False, "text"), (False, "interactive")}
