"""What an operator sees of the action server: one JSON `action.run` line per action with the
turn's request id, `backend.call` lines, and `/metrics` summed over its Sanic workers."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from actions import observability
from tests.stack import start_action_server

PHONE = "5511999990000"
SENDER = f"whatsapp:{PHONE}"


def sample(exposition: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


def webhook_body(action: str, request_id: object) -> dict:
    return {
        "next_action": action,
        "sender_id": SENDER,
        "version": "3.6.2",
        "domain": {},
        "tracker": {
            "sender_id": SENDER,
            "slots": {},
            "latest_message": {
                "text": f"meu telefone é {PHONE}",
                "intent": {},
                "entities": [],
                "metadata": {"request_id": request_id, "channel": "whatsapp"},
            },
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": None,
        },
    }


def test_the_request_id_is_read_from_the_latest_message_and_only_when_well_formed():
    assert observability.request_id_of(webhook_body("a", "turn-0001")) == "turn-0001"
    for malformed in (f"phone {PHONE}", "short", 12345678, None, "x" * 65):
        assert observability.request_id_of(webhook_body("a", malformed)) is None
    assert observability.request_id_of({"tracker": None}) is None
    assert observability.request_id_of(None) is None
    assert observability.action_name_of(webhook_body("action_greet", None)) == "action_greet"
    assert observability.action_name_of({"next_action": f"hi {PHONE}!"}) == "(unknown)"


@pytest.fixture
def stamped_records():
    """Log records stamped with the action server's request id, as its `configure_logging` does."""
    plain = logging.getLogRecordFactory()
    logging.setLogRecordFactory(observability._stamp_request_id(plain))
    yield
    logging.setLogRecordFactory(plain)


def test_a_backend_call_is_logged_timed_and_added_to_the_running_action(caplog, stamped_records):
    stats = observability.ActionStats()
    observability._action_var.set(stats)
    observability.request_id_var.set("turn-0003")
    before = observability.BACKEND_CALL_ERRORS.labels(call="summary", kind="http_5xx")._value.get()
    with caplog.at_level(logging.INFO):
        observability.record_backend_call("summary", "GET", 200, 0.030)
        observability.record_backend_call("summary", "GET", 503, 0.010)
        observability.record_backend_call("quote", "POST", None, 0.020)

    assert stats.backend_calls == 3 and stats.backend_seconds == pytest.approx(0.060)
    formatter = observability.JsonLines("actions")
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "acordo.actions"]
    assert [(line["call"], line["status"], line["duration_ms"]) for line in lines] == [
        ("summary", 200, 30.0),
        ("summary", 503, 10.0),
        ("quote", None, 20.0),
    ]
    assert {(line["event"], line["service"], line["request_id"]) for line in lines} == {
        ("backend.call", "actions", "turn-0003")
    }
    errors = observability.BACKEND_CALL_ERRORS.labels(call="summary", kind="http_5xx")
    assert errors._value.get() - before == 1
    assert [observability.error_kind(s) for s in (None, 500, 404, 200)] == [
        "transport",
        "http_5xx",
        "http_4xx",
        None,
    ]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """The action server with two Sanic workers sharing a metrics folder."""
    folder = tmp_path_factory.mktemp("observed-actions")
    metrics = folder / "prometheus"
    metrics.mkdir()
    service, url = start_action_server(
        "http://127.0.0.1:9",
        folder,
        name="observed-actions",
        ACTION_SERVER_SANIC_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
    )
    yield url, service
    service.stop()


def test_each_action_run_is_one_json_line_with_the_turns_request_id(two_workers):
    url, service = two_workers
    action = "validate_verification_form"  # answers without calling the backend
    runs = 6

    for number in range(runs):
        body = webhook_body(action, f"turn-run-{number:04d}")
        assert httpx.post(f"{url}/webhook", json=body, timeout=30).status_code == 200
    scrape = httpx.get(f"{url}/metrics", timeout=10).text

    # Whichever worker answers the scrape counts the runs of both.
    assert sample(scrape, "acordo_action_seconds_count", action=action) == runs
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = service.log_tail(lines=10_000)
        runs_logged = [
            json.loads(line) for line in log.splitlines() if '"event": "action.run"' in line
        ]
        if len(runs_logged) == runs:
            break
        time.sleep(0.2)
    assert sorted(line["request_id"] for line in runs_logged) == [
        f"turn-run-{number:04d}" for number in range(runs)
    ]
    assert {(line["service"], line["action"], line["backend_calls"]) for line in runs_logged} == {
        ("actions", action, 0)
    }
    assert all(line["duration_ms"] > 0 for line in runs_logged)
    everything = service.log_tail(lines=10_000)
    assert all(json.loads(line) for line in everything.splitlines() if line.strip())
    assert PHONE not in everything and "meu telefone" not in everything
