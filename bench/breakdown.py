"""Where one turn's time goes, hop by hop, from the services' JSON log lines.

The benchmark sends a few turns with its own `X-Request-ID`, then reads the log files of the
backend, action server and Rasa (one JSON object per line; anything else is skipped) and groups
the event lines by request id (.design/issue13.md, "JSON log lines"):

- backend `turn` (gateway: duration_ms, rasa_ms, db_ms) and `http.request` (route, duration_ms,
  db_ms): the web chat request itself, and each /api/v1 call the actions made;
- rasa `rasa.turn` (duration_ms, nlu_ms, actions_ms, action_calls);
- actions `action.run` (action, duration_ms, backend_ms) and `backend.call` (call, duration_ms).

Each hop is the median over the turns of its per-turn time, next to the whole turn measured by
the client (the ratio is the hop's share). A hop whose lines never appear is reported missing.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.report import Figure

CHAT_ROUTE = "/chat/api/messages"
LOG_FILES = ("backend.log", "actions.log", "rasa.log")
REQUEST_ID_HEADER = "X-Request-ID"


@dataclass(frozen=True)
class Hop:
    name: str
    source: str  # the event lines it comes from, named when they are missing
    measure: Callable[[list[dict]], float | None]


def parse_lines(lines: Iterable[str]) -> list[dict]:
    """The JSON objects among the lines (tracebacks, plain text and broken lines skipped)."""
    events = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def by_request_id(events: Iterable[dict], request_ids: Iterable[str]) -> dict[str, list[dict]]:
    """The events of each wanted request id (every id present, with no events when none)."""
    grouped: dict[str, list[dict]] = {request_id: [] for request_id in request_ids}
    for event in events:
        request_id = event.get("request_id")
        if request_id in grouped:
            grouped[request_id].append(event)
    return grouped


def _of(events: list[dict], name: str, service: str | None = None) -> list[dict]:
    return [
        e
        for e in events
        if e.get("event") == name and (service is None or e.get("service") == service)
    ]


def _number(event: dict, key: str) -> float | None:
    value = event.get(key)
    return float(value) if isinstance(value, int | float) else None


def _one(events: list[dict], name: str, key: str, service: str | None = None) -> float | None:
    """`key` of the event `name` of this turn (summed when it appears more than once)."""
    values = [_number(e, key) for e in _of(events, name, service)]
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def _sum(selected: list[dict], key: str) -> float | None:
    if not selected:
        return None
    return sum(_number(e, key) or 0.0 for e in selected)


def _difference(a: float | None, *others: float | None) -> float | None:
    if a is None or any(o is None for o in others):
        return None
    return a - sum(o for o in others if o is not None)


def _chat_requests(events: list[dict]) -> list[dict]:
    return [e for e in _of(events, "http.request", "backend") if e.get("route") == CHAT_ROUTE]


def _api_requests(events: list[dict]) -> list[dict]:
    return [e for e in _of(events, "http.request", "backend") if e.get("route") != CHAT_ROUTE]


def _database(events: list[dict]) -> float | None:
    gateway = _one(events, "turn", "db_ms", "backend")
    api = _sum(_api_requests(events), "db_ms")
    if gateway is None and api is None:
        return None
    return (gateway or 0.0) + (api or 0.0)


def _actions_own(events: list[dict]) -> float | None:
    runs = _of(events, "action.run", "actions")
    if not runs:
        return None
    return sum((_number(e, "duration_ms") or 0.0) - (_number(e, "backend_ms") or 0.0) for e in runs)


def _turn(key: str) -> Callable[[list[dict]], float | None]:
    return lambda events: _one(events, "turn", key, "backend")


def _rasa(key: str) -> Callable[[list[dict]], float | None]:
    return lambda events: _one(events, "rasa.turn", key)


def _gateway_own(events: list[dict]) -> float | None:
    return _difference(_turn("duration_ms")(events), _turn("rasa_ms")(events))


def _rasa_own(events: list[dict]) -> float | None:
    return _difference(
        _rasa("duration_ms")(events), _rasa("nlu_ms")(events), _rasa("actions_ms")(events)
    )


def _named(event: str, key: str, name: str) -> Callable[[list[dict]], float | None]:
    """The summed duration of the `event` lines whose `key` is `name` (an action, a call)."""
    return lambda events: _sum([e for e in _of(events, event) if e.get(key) == name], "duration_ms")


FIXED_HOPS = (
    Hop(
        "backend: web chat request",
        "backend http.request " + CHAT_ROUTE,
        lambda events: _sum(_chat_requests(events), "duration_ms"),
    ),
    Hop("gateway turn (handle_inbound)", "backend turn", _turn("duration_ms")),
    Hop("gateway own time (turn − Rasa)", "backend turn", _gateway_own),
    Hop("gateway database", "backend turn db_ms", _turn("db_ms")),
    Hop("gateway → Rasa round trip", "backend turn rasa_ms", _turn("rasa_ms")),
    Hop("Rasa turn (receive → reply)", "rasa rasa.turn", _rasa("duration_ms")),
    Hop("Rasa NLU", "rasa rasa.turn nlu_ms", _rasa("nlu_ms")),
    Hop("Rasa → action server calls", "rasa rasa.turn actions_ms", _rasa("actions_ms")),
    Hop("Rasa own (policies, tracker store)", "rasa rasa.turn", _rasa_own),
    Hop(
        "actions run (sum)",
        "actions action.run",
        lambda events: _sum(_of(events, "action.run", "actions"), "duration_ms"),
    ),
    Hop("actions own time (run − backend)", "actions action.run backend_ms", _actions_own),
    Hop(
        "backend calls from actions (client side)",
        "actions backend.call",
        lambda events: _sum(_of(events, "backend.call", "actions"), "duration_ms"),
    ),
    Hop(
        "backend API requests (server side)",
        "backend http.request /api/v1",
        lambda events: _sum(_api_requests(events), "duration_ms"),
    ),
    Hop(
        "backend API database",
        "backend http.request db_ms",
        lambda events: _sum(_api_requests(events), "db_ms"),
    ),
    Hop("database, whole turn", "backend turn + http.request db_ms", _database),
)


def named_hops(turns: dict[str, list[dict]]) -> list[Hop]:
    """One hop per action name and per backend call name seen in these turns."""
    seen = [e for events in turns.values() for e in events]
    actions = sorted({e.get("action") for e in _of(seen, "action.run")} - {None})
    calls = sorted({e.get("call") for e in _of(seen, "backend.call")} - {None})
    hops = [
        Hop(f"action {name}", "actions action.run", _named("action.run", "action", name))
        for name in actions
    ]
    hops += [
        Hop(f"backend call {name}", "actions backend.call", _named("backend.call", "call", name))
        for name in calls
    ]
    return hops


def summarize(turns: dict[str, list[dict]], client_ms: dict[str, float]) -> list[Figure]:
    """Median per hop over the turns, each next to the median whole turn seen by the client."""
    whole = statistics.median(client_ms.values()) if client_ms else None
    figures = [
        Figure(
            "breakdown", "whole turn (client)", whole, "ms", note="" if whole else "no turn sent"
        )
    ]
    for hop in (*FIXED_HOPS, *named_hops(turns)):
        values = [v for v in (hop.measure(events) for events in turns.values()) if v is not None]
        value = statistics.median(values) if values else None
        figures.append(
            Figure(
                "breakdown",
                hop.name,
                value,
                "ms",
                baseline=whole,
                baseline_name="whole turn (client)",
                note="" if values else f"missing: no {hop.source} lines",
            )
        )
    return figures


def read_logs(folder: Path) -> list[dict]:
    events = []
    for name in LOG_FILES:
        path = folder / name
        if path.exists():
            events += parse_lines(path.read_text(errors="replace").splitlines())
    return events


def measure(backend_url: str, folder: Path, *, turns: int, progress=print) -> list[Figure]:
    """Verify one web chat conversation, then send `turns` balance questions with our ids."""
    from bench.turns import stack_lines

    lines = stack_lines("pt_BR")
    client_ms: dict[str, float] = {}
    with httpx.Client(base_url=backend_url, timeout=120) as client:
        session = client.post("/chat/api/sessions")
        session.raise_for_status()
        session_id = session.json()["session_id"]

        def say(text: str, request_id: str | None = None) -> float:
            headers = {REQUEST_ID_HEADER: request_id} if request_id else {}
            started = time.monotonic()
            reply = client.post(
                "/chat/api/messages",
                json={"session_id": session_id, "text": text, "language": "pt_BR"},
                headers=headers,
            )
            reply.raise_for_status()
            return (time.monotonic() - started) * 1e3

        for line in lines[:4]:  # greeting, balance, suffix, birth date: verified
            say(line)
        for _ in range(turns):
            request_id = f"bench-{uuid.uuid4().hex[:16]}"
            client_ms[request_id] = say(lines[4], request_id)
    time.sleep(1.0)  # the services write their lines after answering
    grouped = by_request_id(read_logs(folder), client_ms)
    found = sum(1 for events in grouped.values() if events)
    progress(f"breakdown: {turns} turns sent, {found} found in the logs by request id")
    return summarize(grouped, client_ms)
