"""Time spent in SQL statements, per request and per turn.

`install_sql_timing` adds listeners on SQLAlchemy's `Engine` class, so every engine (the
app's, a test's) counts. Each statement adds its duration to the accumulator of the running
request, kept in a context variable. The accumulator is a mutable object rather than a number
because the queries run in worker threads (`anyio.to_thread.run_sync`, FastAPI's sync
dependencies): those get a copy of the context, which points to the same object.

Accumulators nest: one started for a turn inside a request counts its statements into the
request's as well, so the request's line and the turn's line are both complete.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import Engine, event

_STARTED = "acordo_statement_started"


@dataclass
class DbStats:
    """SQL time and statement count since `start_request_stats`."""

    seconds: float = 0.0
    queries: int = 0
    enclosing: DbStats | None = None

    def add(self, seconds: float) -> None:
        stats: DbStats | None = self
        while stats is not None:
            stats.seconds += seconds
            stats.queries += 1
            stats = stats.enclosing

    @property
    def ms(self) -> float:
        return round(self.seconds * 1000, 3)


_stats_var: ContextVar[DbStats | None] = ContextVar("acordo_db_stats", default=None)


def start_request_stats() -> DbStats:
    """A new accumulator for the running request or turn, counting into the enclosing one too.

    Returned, so that the caller reads its own whatever runs (and starts another) later.
    """
    stats = DbStats(enclosing=_stats_var.get())
    _stats_var.set(stats)
    return stats


@contextmanager
def counting_statements() -> Iterator[DbStats]:
    """`start_request_stats` for the length of a block; the enclosing accumulator afterwards."""
    stats = DbStats(enclosing=_stats_var.get())
    token = _stats_var.set(stats)
    try:
        yield stats
    finally:
        _stats_var.reset(token)


def current_request_stats() -> DbStats | None:
    return _stats_var.get()


def _before(conn, _cursor, _statement, _parameters, _context, _executemany) -> None:
    conn.info[_STARTED] = time.perf_counter()


def _after(conn, _cursor, _statement, _parameters, _context, _executemany) -> None:
    started = conn.info.pop(_STARTED, None)
    stats = _stats_var.get()
    if started is not None and stats is not None:
        stats.add(time.perf_counter() - started)


def install_sql_timing() -> None:
    """Time every statement of every engine (idempotent)."""
    if not event.contains(Engine, "before_cursor_execute", _before):
        event.listen(Engine, "before_cursor_execute", _before)
        event.listen(Engine, "after_cursor_execute", _after)
