"""A small asyncio load generator: N conversations at once, each its turns one after another.

A conversation is a `Script`: it opens (e.g. asks for a web chat session) and then says its
lines in order, each line a turn whose latency is measured from sending to the whole reply.
A turn fails on a transport error, a non-2xx answer or a reply the script rejects (an apology);
the run is bounded by a deadline, after which no new turn starts. Only 127.0.0.1 is allowed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from bench.report import percentile

TURN_TIMEOUT = 120.0  # seconds one turn may take before it counts as an error


class TurnFailed(Exception):
    """A turn answered, but not as a person would accept (the message says how)."""


@dataclass
class Script:
    """One conversation: `open` once, then each turn in order (a turn returns the reply text).

    `open` and every turn get the conversation's client; a turn raises `TurnFailed` or an
    `httpx.HTTPError` when it failed.
    """

    open: Callable[[httpx.AsyncClient], Awaitable[None]]
    turns: list[Callable[[httpx.AsyncClient], Awaitable[str]]]


@dataclass
class LoadResult:
    conversations: int
    latencies: list[float] = field(default_factory=list)  # seconds, successful turns
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    error_kinds: Counter = field(default_factory=Counter)  # "turn 4: apology" → count
    not_started: int = 0  # turns the deadline stopped
    wall_seconds: float = 0.0

    @property
    def turns(self) -> int:
        return len(self.latencies)

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.wall_seconds if self.wall_seconds else 0.0

    def p(self, fraction: float) -> float:
        return percentile(self.latencies, fraction)

    def summary(self) -> dict:
        return {
            "conversations": self.conversations,
            "turns": self.turns,
            "errors": self.errors,
            "not_started": self.not_started,
            "wall_seconds": self.wall_seconds,
            "turns_per_second": self.turns_per_second,
            "p50_ms": self.p(0.5) * 1e3,
            "p90_ms": self.p(0.9) * 1e3,
            "p99_ms": self.p(0.99) * 1e3,
            "error_kinds": dict(self.error_kinds),
            "error_samples": self.error_samples[:5],
        }


# What makes a turn an error: no answer, a non-2xx one (raise_for_status), a reply that is not
# the JSON it should be, or one the script rejects.
FAILURES = (httpx.HTTPError, TurnFailed, ValueError, KeyError, TypeError)


def require_loopback(url: str) -> None:
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the load generator only talks to 127.0.0.1, not {url}")


def _count_error(result: LoadResult, where: str, exc: Exception) -> None:
    result.errors += 1
    result.error_samples.append(f"{where}: {type(exc).__name__}: {exc}"[:300])
    if isinstance(exc, TurnFailed):
        kind = str(exc).split(":", 1)[0]
    elif isinstance(exc, httpx.HTTPStatusError):
        kind = f"HTTP {exc.response.status_code}"
    else:
        kind = type(exc).__name__
    result.error_kinds[f"{where}: {kind}"] += 1


async def _converse(
    script: Script,
    client: httpx.AsyncClient,
    result: LoadResult,
    deadline: float,
    on_turn: Callable[[], None] | None,
) -> None:
    try:
        await script.open(client)
    except FAILURES as exc:
        _count_error(result, "open", exc)
        result.not_started += len(script.turns)
        return
    for index, turn in enumerate(script.turns):
        if time.monotonic() > deadline:
            result.not_started += len(script.turns) - index
            return
        started = time.monotonic()
        try:
            await turn(client)
        except FAILURES as exc:
            _count_error(result, f"turn {index + 1}", exc)
        else:
            result.latencies.append(time.monotonic() - started)
        if on_turn is not None:
            on_turn()


async def run_load(
    scripts: list[list[Script]],
    *,
    deadline_seconds: float,
    on_turn: Callable[[], None] | None = None,
) -> LoadResult:
    """Run each inner list of scripts one after another, all the lists at once.

    `len(scripts)` is the concurrency; each worker has its own connection pool, as separate
    browsers would.
    """
    result = LoadResult(conversations=sum(len(worker) for worker in scripts))
    deadline = time.monotonic() + deadline_seconds
    timeout = httpx.Timeout(TURN_TIMEOUT, connect=10.0)

    async def worker(own: list[Script]) -> None:
        async with httpx.AsyncClient(timeout=timeout) as client:
            for script in own:
                await _converse(script, client, result, deadline, on_turn)

    started = time.monotonic()
    await asyncio.gather(*(worker(own) for own in scripts))
    result.wall_seconds = time.monotonic() - started
    return result
