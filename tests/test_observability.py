"""What an operator sees of the backend: one JSON line per request carrying the request id it
was sent, the database time of the request, and the counters and queues at `/metrics`."""

from __future__ import annotations

import json
import logging
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from backend.contacts.signing import HEADER as CONTACT_SIGNATURE_HEADER
from backend.contacts.signing import sign_contact
from backend.gateway.models import MessageKind, OutboxMessage, OutboxStatus
from backend.handoffs import service as handoffs
from backend.migrate import upgrade_to_head
from backend.observability.context import REQUEST_ID_HEADER
from backend.observability.logs import JsonLines, TextLines, configure_logging
from backend.observability.timing import counting_statements
from backend.observability.turns import observe_turn
from tests import factories
from tests.stack import CONTACT_SIGNING_SECRET, SERVICE_TOKEN, start_backend

PHONE = "5511999990000"
SUMMARY = f"/api/v1/contacts/whatsapp/{PHONE}/summary"
SUMMARY_ROUTE = "/api/v1/contacts/{channel}/{external_id}/summary"


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample of a scrape, 0 when absent."""
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


def json_lines(records: list[logging.LogRecord]) -> list[dict]:
    """The records as the backend writes them to stderr, parsed back."""
    formatter = JsonLines("backend")
    return [json.loads(formatter.format(record)) for record in records]


def test_a_request_is_one_json_line_with_its_request_id_route_and_database_time(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get(f"{SUMMARY}?phone={PHONE}", headers={REQUEST_ID_HEADER: "turn-0001"})

    assert response.headers[REQUEST_ID_HEADER] == "turn-0001"
    lines = json_lines(caplog.records)
    [request] = [line for line in lines if line.get("event") == "http.request"]
    assert request["request_id"] == "turn-0001"
    assert request["service"] == "backend"
    assert (request["method"], request["route"], request["status"]) == (
        "GET",
        SUMMARY_ROUTE,
        response.status_code,
    )
    assert request["db_queries"] > 0 and request["db_ms"] > 0
    assert request["duration_ms"] >= request["db_ms"]
    assert request["ts"].endswith("+00:00") and request["level"] == "INFO"
    assert PHONE not in json.dumps(lines)


def test_a_malformed_request_id_is_replaced_and_never_logged(client, caplog):
    sent = f"phone {PHONE}"
    with caplog.at_level(logging.INFO):
        response = client.get("/health", headers={REQUEST_ID_HEADER: sent})

    echoed = response.headers[REQUEST_ID_HEADER]
    assert echoed != sent and len(echoed) >= 8
    lines = json_lines(caplog.records)
    assert [line["request_id"] for line in lines if line.get("event") == "http.request"] == [echoed]
    assert PHONE not in json.dumps(lines)


def test_an_exception_is_logged_by_type_and_frames_without_its_message(caplog):
    with caplog.at_level(logging.ERROR):
        try:
            raise ValueError(f"duplicate key (phone)=({PHONE})")
        except ValueError:
            logging.getLogger("backend.test").exception("insert failed")

    [line] = json_lines([r for r in caplog.records if r.name == "backend.test"])
    assert (line["message"], line["error"]) == ("insert failed", "ValueError")
    assert any("test_observability.py" in frame for frame in line["stack"])
    assert PHONE not in json.dumps(line)


def test_the_text_format_shows_the_same_fields(monkeypatch):
    record = logging.makeLogRecord(
        {"name": "uvicorn.requests", "levelname": "INFO", "msg": "GET /health 200 1.0ms"}
    )
    record.request_id, record.event, record.db_queries = "turn-0002", "http.request", 0

    line = TextLines("backend").format(record)

    assert "backend uvicorn.requests [turn-0002] GET /health 200 1.0ms" in line
    assert "event=http.request" in line and "db_queries=0" in line
    monkeypatch.setenv("ACORDO_LOG_FORMAT", "text")
    configure_logging("backend")
    try:
        [handler] = [
            h for h in logging.getLogger().handlers if type(h).__name__ == "_AcordoHandler"
        ]
        assert isinstance(handler.formatter, TextLines)
    finally:
        monkeypatch.setenv("ACORDO_LOG_FORMAT", "json")
        configure_logging("backend")


def test_metrics_count_api_requests_by_route_and_time_the_database(client):
    before = client.get("/metrics").text
    client.get(SUMMARY)
    client.get(SUMMARY)
    scrape = client.get("/metrics")

    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    after = scrape.text
    labels = {"method": "GET", "route": SUMMARY_ROUTE}
    status = str(client.get(SUMMARY).status_code)
    assert (
        sample(after, "acordo_http_requests_total", **labels, status=status)
        - sample(before, "acordo_http_requests_total", **labels, status=status)
        == 2
    )
    for hop in ("backend_api", "database"):
        grown = sample(after, "acordo_hop_seconds_count", hop=hop)
        assert grown - sample(before, "acordo_hop_seconds_count", hop=hop) >= 2, hop
    assert sample(after, "acordo_http_request_seconds_count", **labels) >= 2
    assert PHONE not in after
    # Scrapes are not requests worth counting, and Prometheus's route is no API.
    assert sample(after, "acordo_http_requests_total", route="/metrics") == 0
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_metrics_show_reminders_queues_and_escalations_from_the_database(client, db_session, clock):
    creditor = factories.creditor(db_session)
    person = factories.debtor(db_session, creditor)
    contact = factories.contact(db_session, person)
    now = clock.fixed

    def outbox(key: str, status: OutboxStatus, **fields) -> OutboxMessage:
        return OutboxMessage(
            dedupe_key=key,
            kind=MessageKind.REMINDER,
            debtor_id=person.id,
            scheduled_for=date.today(),
            not_before=now,
            status=status,
            updated_at=fields.pop("updated_at", now - timedelta(hours=1)),
            **fields,
        )

    db_session.add_all(
        [
            outbox("a", OutboxStatus.SUPPRESSED, suppression_reason="quiet_hours"),
            outbox("b", OutboxStatus.SUPPRESSED, suppression_reason="quiet_hours"),
            outbox("c", OutboxStatus.SUPPRESSED, suppression_reason="opted_out"),
            outbox(
                "old",
                OutboxStatus.SUPPRESSED,
                suppression_reason="opted_out",
                updated_at=now - timedelta(hours=30),
            ),
            outbox("d", OutboxStatus.SENT),
            outbox("e", OutboxStatus.PENDING, attempts=0),
            outbox("f", OutboxStatus.PENDING, attempts=2),
            outbox("g", OutboxStatus.SENDING, attempts=1),
        ]
    )
    db_session.flush()
    before = client.get("/metrics").text
    handoffs.escalate(db_session, contact=contact, reason="dispute", now=now)
    db_session.commit()

    scrape = client.get("/metrics").text

    assert sample(scrape, "acordo_reminders", status="suppressed", reason="quiet_hours") == 2
    assert sample(scrape, "acordo_reminders", status="suppressed", reason="opted_out") == 1
    assert sample(scrape, "acordo_reminders", status="sent", reason="") == 1
    assert [
        sample(scrape, "acordo_outbox_queue", status=s) for s in ("pending", "retry", "sending")
    ] == [1, 1, 1]
    assert sample(scrape, "acordo_handoff_queue", status="queued") == 1
    assert sample(scrape, "acordo_handoff_queue", status="assigned") == 0
    escalated = sample(scrape, "acordo_escalations_total", reason="dispute")
    assert escalated - sample(before, "acordo_escalations_total", reason="dispute") == 1


def test_a_turn_is_logged_with_its_own_database_time_and_counted(client, db_session, caplog):
    from sqlalchemy import text

    before = client.get("/metrics").text
    with caplog.at_level(logging.INFO), counting_statements():
        db_session.execute(text("SELECT 1"))
        db_session.execute(text("SELECT 2"))
        observe_turn(channel="webchat", outcome="bot", duration_s=0.25, rasa_s=0.2)
    after = client.get("/metrics").text

    [turn] = [line for line in json_lines(caplog.records) if line.get("event") == "turn"]
    assert (turn["channel"], turn["outcome"], turn["duration_ms"], turn["rasa_ms"]) == (
        "webchat",
        "bot",
        250.0,
        200.0,
    )
    assert turn["db_queries"] == 2 and turn["db_ms"] > 0
    grown = {
        "turns": ("acordo_turns_total", {"channel": "webchat", "outcome": "bot"}),
        "turn seconds": ("acordo_turn_seconds_count", {"channel": "webchat"}),
        "gateway hop": ("acordo_hop_seconds_count", {"hop": "gateway"}),
        "rasa hop": ("acordo_hop_seconds_count", {"hop": "rasa"}),
    }
    for what, (name, labels) in grown.items():
        assert sample(after, name, **labels) - sample(before, name, **labels) == 1, what
    with pytest.raises(ValueError):
        observe_turn(channel="webchat", outcome="maybe", duration_s=0.1, rasa_s=0)


# --- the real server, several workers' worth of metrics -----------------------------------


@pytest.fixture(scope="module")
def served_backend(tmp_path_factory):
    folder = tmp_path_factory.mktemp("observed-backend")
    database = f"sqlite:///{folder / 'backend.sqlite3'}"
    upgrade_to_head(database)
    metrics_dir = folder / "prometheus"
    metrics_dir.mkdir()
    service, url = start_backend(database, folder, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    yield url, service.log_path, metrics_dir
    service.stop()


def test_the_served_backend_writes_only_json_lines_and_sums_metrics_in_the_shared_folder(
    served_backend,
):
    url, log_path, metrics_dir = served_backend
    signature = sign_contact(
        channel="whatsapp",
        external_id=PHONE,
        secret=CONTACT_SIGNING_SECRET,
        now=datetime.now(timezone.utc),
        ttl=timedelta(minutes=5),
    )
    headers = {
        "Authorization": f"Bearer {SERVICE_TOKEN}",
        CONTACT_SIGNATURE_HEADER: signature,
        REQUEST_ID_HEADER: "served-0001",
    }
    answered = httpx.get(f"{url}/api/v1/contacts/whatsapp/{PHONE}/summary", headers=headers)
    scrape = httpx.get(f"{url}/metrics", timeout=10).text

    assert answered.headers[REQUEST_ID_HEADER] == "served-0001"
    assert any(path.suffix == ".db" for path in metrics_dir.iterdir())
    assert sample(scrape, "acordo_http_requests_total", route=SUMMARY_ROUTE) == 1
    assert sample(scrape, "acordo_outbox_queue", status="pending") == 0  # the gauges are there
    text = Path(log_path).read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, "the backend logged nothing"
    assert {line["service"] for line in lines} == {"backend"}
    [request] = [line for line in lines if line["request_id"] == "served-0001"]
    assert (request["event"], request["route"]) == ("http.request", SUMMARY_ROUTE)
    assert request["db_queries"] > 0
    assert PHONE not in text
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None  # the suite's own stays apart
