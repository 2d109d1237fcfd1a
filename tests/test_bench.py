"""The benchmark's arithmetic and reports, without starting any service.

What a reader of `./run bench` relies on: percentiles that mean what they say, goals judged on
the right side of their threshold, a per-hop breakdown assembled from the services' JSON lines
of the right turn (and "missing" when a service wrote none), and a README table that shows
every figure with its baseline and ratio.
"""

from __future__ import annotations

import json
import math

import pytest

from bench import breakdown
from bench.__main__ import goals, turn_figures
from bench.loadgen import LoadResult
from bench.report import Figure, Goal, markdown, percentile, text_table
from bench.turns import ServerRun


def test_percentiles_are_nearest_rank():
    values = [float(n) for n in range(1, 101)]  # 1 … 100, shuffled order must not matter
    shuffled = values[::-1]
    assert percentile(shuffled, 0.5) == 50
    assert percentile(shuffled, 0.9) == 90
    assert percentile(shuffled, 0.99) == 99
    assert percentile(shuffled, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2
    assert math.isnan(percentile([], 0.5))
    with pytest.raises(ValueError):
        percentile(values, 50)  # a percent, not a fraction


def test_ratio_is_value_over_baseline_and_missing_without_one():
    assert Figure("turns", "p50", 300.0, "ms", baseline=200.0).ratio == 1.5
    assert Figure("turns", "p50", None, "ms", baseline=200.0).ratio is None
    assert Figure("turns", "p50", 300.0, "ms").ratio is None
    assert Figure("turns", "p50", 300.0, "ms", baseline=0.0).ratio is None


@pytest.mark.parametrize(
    ("value", "baseline", "compare", "limit", "met"),
    [
        (150.0, 100.0, "<=", 1.5, True),  # exactly at the goal meets it
        (151.0, 100.0, "<=", 1.5, False),
        (8.0, 10.0, ">=", 0.8, True),
        (7.9, 10.0, ">=", 0.8, False),
        (None, 10.0, ">=", 0.8, None),  # not measured: neither met nor failed
    ],
)
def test_goals_on_ratios(value, baseline, compare, limit, met):
    goal = Goal("g", Figure("turns", "f", value, "ms", baseline=baseline), compare, limit)
    assert goal.met is met
    assert goal.mark == {True: "✓", False: "✗", None: "?"}[met]


def test_the_error_goal_is_on_the_count_itself():
    assert Goal("errors", Figure("turns", "errors", 0, ""), "==", 0, on="value").met is True
    failed = Goal("errors", Figure("turns", "errors", 3, ""), "==", 0, on="value")
    assert failed.met is False
    assert failed.describe().startswith("✗ errors: 3")


def _line(**fields) -> str:
    return json.dumps({"ts": "2026-11-29T22:00:00Z", "level": "INFO", "message": "", **fields})


SAMPLE_LOGS = [
    "INFO:     Started server process [42]",  # uvicorn's own text: skipped
    _line(service="backend", request_id="turn-aaaaaaaa", event="http.request", method="POST",
          route="/chat/api/messages", status=200, duration_ms=240.0, db_ms=12.0, db_queries=9),
    _line(service="backend", request_id="turn-aaaaaaaa", event="turn", channel="webchat",
          outcome="bot", duration_ms=230.0, rasa_ms=200.0, db_ms=12.0, db_queries=9),
    _line(service="rasa", request_id="turn-aaaaaaaa", event="rasa.turn", duration_ms=190.0,
          nlu_ms=40.0, actions_ms=120.0, action_calls=1),
    _line(service="actions", request_id="turn-aaaaaaaa", event="action.run",
          action="action_balance", duration_ms=110.0, backend_ms=80.0, backend_calls=2),
    _line(service="actions", request_id="turn-aaaaaaaa", event="backend.call", call="summary",
          method="GET", status=200, duration_ms=50.0),
    _line(service="actions", request_id="turn-aaaaaaaa", event="backend.call", call="terms",
          method="GET", status=200, duration_ms=30.0),
    _line(service="backend", request_id="turn-aaaaaaaa", event="http.request", method="GET",
          route="/api/v1/contacts/{channel}/{external_id}/summary", status=200,
          duration_ms=40.0, db_ms=20.0, db_queries=4),
    _line(service="backend", request_id="turn-aaaaaaaa", event="http.request", method="GET",
          route="/api/v1/contacts/{channel}/{external_id}/debts/{reference}/terms",
          status=200, duration_ms=20.0, db_ms=5.0, db_queries=2),
    # Another turn's lines must not count in this one.
    _line(service="backend", request_id="someone-else-1", event="turn", duration_ms=9999.0,
          rasa_ms=1.0, db_ms=1.0),
    '{"service": "rasa", "request_id": "turn-aaaaaaaa", "event": "rasa.tu',  # cut short
]  # fmt: skip


def _figures(logs: list[str]) -> dict[str, Figure]:
    grouped = breakdown.by_request_id(breakdown.parse_lines(logs), ["turn-aaaaaaaa"])
    figures = breakdown.summarize(grouped, {"turn-aaaaaaaa": 250.0})
    return {figure.name: figure for figure in figures}


def test_the_breakdown_adds_up_one_turn_from_its_request_id():
    hops = _figures(SAMPLE_LOGS)
    value = {name: figure.value for name, figure in hops.items()}
    assert value["whole turn (client)"] == 250
    assert value["backend: web chat request"] == 240
    assert value["gateway own time (turn − Rasa)"] == 30
    assert value["gateway → Rasa round trip"] == 200
    assert value["Rasa NLU"] == 40
    assert value["Rasa own (policies, tracker store)"] == 30  # 190 − 40 − 120
    assert value["actions own time (run − backend)"] == 30
    assert value["backend call summary"] == 50
    assert value["backend calls from actions (client side)"] == 80
    assert value["backend API requests (server side)"] == 60
    assert value["database, whole turn"] == 37  # gateway 12 + API 20 + 5
    assert hops["gateway turn (handle_inbound)"].value == 230  # not the other turn's 9999
    assert hops["Rasa NLU"].ratio == pytest.approx(40 / 250)  # its share of the turn


def test_a_service_without_its_lines_is_reported_missing():
    without_rasa = [line for line in SAMPLE_LOGS if '"rasa.turn"' not in line]
    hops = _figures(without_rasa)
    assert hops["Rasa NLU"].value is None
    assert "missing" in hops["Rasa NLU"].note and "rasa.turn" in hops["Rasa NLU"].note
    assert hops["gateway → Rasa round trip"].value == 200  # the others still stand
    assert "missing" in text_table(list(hops.values()))


def test_the_markdown_table_shows_each_figure_with_its_baseline_and_ratio():
    figures = [
        Figure("turns", "1 conv, 21 turns: p50", 186.0, "ms", baseline=37.0,
               baseline_name="bare Rasa, same load"),
        Figure("fanout", "reminders sent", 29.1, "msgs/s", baseline=30,
               baseline_name="Telegram's limit (30/s)"),
        Figure("knowledge", "retrieval over HTTP p50", None, "ms", note="no store"),
    ]  # fmt: skip
    goal = Goal("1 conversation: p50 vs bare Rasa", figures[0], "<=", 1.5)
    table = markdown(figures, [goal], {"CPU": "AMD EPYC", "cores": "2"}, ["noisy"])
    assert "| CPU | AMD EPYC |" in table
    assert (
        "| turns | 1 conv, 21 turns: p50 | 186 ms | bare Rasa, same load | 37 ms | 5.03× |" in table
    )
    assert (
        "| fanout | reminders sent | 29.1 msgs/s | Telegram's limit (30/s) | 30 msgs/s | 0.97× |"
        in table
    )
    assert "| 1 conversation: p50 vs bare Rasa (<= 1.50×) | 5.03× | ✗ |" in table
    assert "missing (no store)" in table
    assert "- noisy" in table


def _load(latencies_ms: list[float], seconds: float, errors: int = 0) -> LoadResult:
    result = LoadResult(conversations=1, errors=errors, wall_seconds=seconds)
    result.latencies = [ms / 1e3 for ms in latencies_ms]
    return result


def test_the_issue_goals_are_judged_on_the_figures_the_turns_section_prints():
    bare = ServerRun(levels={1: _load([40.0] * 7, 0.28), 20: _load([1000.0] * 140, 7.0)})
    stack = ServerRun(levels={1: _load([58.0] * 7, 0.41), 20: _load([1500.0] * 139, 8.0, errors=1)})
    checked = {goal.name: goal for goal in goals(turn_figures(stack, bare))}
    assert checked["1 conversation: p50 vs bare Rasa"].met is True  # 58 / 40 = 1.45
    assert checked["20 conversations: turns/s vs bare Rasa"].met is True  # 17.4 / 20 = 0.87
    assert checked["20 conversations: p99 vs bare Rasa"].met is True  # 1.5
    assert checked["errors through the stack"].met is False  # one error is one too many
