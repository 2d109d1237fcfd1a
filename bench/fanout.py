"""Reminder fan-out: how close the senders come to Telegram's 30 messages a second.

`messages` due Telegram reminders (tests.campaign_world: debtors at noon under an open contact
rule, so the gate sends every one) are queued on a SQLite file; `senders` real sender processes
(`python -m backend.gateway.sender`) deliver them to a recording fake Bot API that accepts at
most 30 sendMessage a second and answers 429 with `retry_after` beyond that, as Telegram does.
The rate is messages accepted over the time from the first to the last accepted one; the
baseline is the limit itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from backend.db import make_engine, utcnow
from backend.gateway.models import OutboxMessage, OutboxStatus
from backend.migrate import upgrade_to_head
from bench.report import Figure
from tests.campaign_world import populate, queue_reminders
from tests.fake_channels import RecordingBotApi, RecordingGraph, sender_environment, serving
from tests.stack import REPO

LIMIT_PER_SECOND = 30
CAMPAIGN_DEADLINE = 600.0


class TimedBotApi(RecordingBotApi):
    """The rate-limited fake Bot API that also notes when it accepted each message."""

    def __init__(self, per_second: int) -> None:
        super().__init__(per_second)
        self.accepted_at: list[float] = []

    def answer(self, method: str, params: dict) -> tuple[int, dict]:
        status, body = super().answer(method, params)
        if method == "sendMessage" and status == 200:
            self.accepted_at.append(time.monotonic())
        return status, body


def _unfinished(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            select(func.count()).where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
            )
        )


def _by_status(engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    return {status.value: count for status, count in rows}


def measure(folder: Path, *, messages: int, senders: int, progress=print) -> list[Figure]:
    url = f"sqlite:///{folder / 'fanout.sqlite3'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    now = utcnow()
    world = populate(engine, now=now, sizes={"telegram": messages})
    queued = queue_reminders(engine, world, now=now)
    progress(f"fanout: {queued} Telegram reminders due, {senders} senders")
    bot_api, graph = TimedBotApi(LIMIT_PER_SECOND), RecordingGraph()
    processes: list[subprocess.Popen] = []
    statuses: dict[str, int] = {}
    try:
        with serving(bot_api, graph):
            env = {**os.environ, **sender_environment(url, bot_api, graph)}
            for number in range(senders):
                with (folder / f"sender-{number}.log").open("ab") as log:
                    processes.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "backend.gateway.sender",
                                "--idle-seconds",
                                "0.5",
                            ],
                            cwd=REPO,
                            env=env,
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
            deadline = time.monotonic() + CAMPAIGN_DEADLINE
            left = queued
            while left and time.monotonic() < deadline:
                if any(p.poll() is not None for p in processes):
                    raise RuntimeError(f"a sender exited early; see {folder}/sender-*.log")
                time.sleep(1.0)
                left = _unfinished(engine)
            statuses = _by_status(engine)
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        engine.dispose()
    counts = bot_api.counts()
    accepted = len(bot_api.received)
    times = bot_api.accepted_at
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (accepted - 1) / span if span else None
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    note = "outbox: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    if left:
        note += f"; {left} not sent by the deadline"
    limit = f"Telegram's limit ({LIMIT_PER_SECOND}/s)"
    return [
        Figure("fanout", f"reminders sent ({senders} senders)", rate, "msgs/s",
               baseline=LIMIT_PER_SECOND, baseline_name=limit),
        Figure("fanout", "messages accepted", accepted, "", baseline=queued,
               baseline_name="reminders due", note=note),
        Figure("fanout", "429 answers received", bot_api.refused, "", baseline=accepted,
               baseline_name="messages accepted"),
        Figure("fanout", "duplicates (a chat sent the same reminder twice)", duplicates, "",
               baseline=accepted, baseline_name="messages accepted"),
    ]  # fmt: skip
