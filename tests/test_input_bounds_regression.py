"""Inputs schemathesis found answered with 500: each now gets a clear 4xx naming the problem.

Ids beyond any row (SQLite cannot bind a number past 64 bits), caps past the database's
integer, and dates next to the calendar's ends (year 1, year 9999).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from backend.gateway.channels import webchat_sessions
from tests.staff_login import sign_in, staff_member

HUGE = 2**70


def invalid_field(response, field: str) -> bool:
    detail = response.json()["detail"]
    return detail["reason_code"] == "invalid_request" and field in {
        error["field"] for error in detail["errors"]
    }


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", f"/api/v1/debtors/{HUGE}/verification", "debtor_id"),
        ("GET", f"/api/v1/cadence-policies/{HUGE}/medium", "creditor_id"),
        ("DELETE", f"/api/v1/cadence-policies/{HUGE}/medium", "creditor_id"),
    ],
)
def test_an_id_beyond_any_row_is_an_invalid_request_not_a_500(client, method, path, field):
    response = client.request(method, path)

    assert response.status_code == 422
    assert invalid_field(response, field)


def test_a_web_chat_poll_after_a_huge_cursor_is_an_invalid_request(anonymous_client, settings):
    session = webchat_sessions.issue(secret=settings.contact_signing_secret)

    response = anonymous_client.get(
        f"/chat/api/messages?after={HUGE}", headers={"X-Chat-Session": session}
    )

    assert response.status_code == 422
    assert invalid_field(response, "after")


def test_a_contact_cap_past_any_sensible_number_is_refused_and_the_rule_kept(client):
    rule = {
        "window_start": "08:00",
        "window_end": "20:00",
        "max_per_day": HUGE,
        "max_per_7_days": HUGE,
    }

    response = client.put("/api/v1/contact-rules/BR", json=rule)

    assert response.status_code == 422
    assert invalid_field(response, "max_per_day")
    assert invalid_field(response, "max_per_7_days")
    assert all(r["country"] != "BR" for r in client.get("/api/v1/contact-rules").json())


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00"])
def test_a_campaign_preview_at_the_calendars_ends_is_refused(client, at):
    response = client.get("/api/v1/campaigns/preview", params={"at": at})

    assert response.status_code == 422
    assert response.json()["detail"] == {
        "reason_code": "at_out_of_range",
        "message": "choose `at` within 100 years of now",
    }


@pytest.fixture
def staff_console(app, db_session, clock):
    with TestClient(app) as console:
        # The console's pages send the session's CSRF token in this header.
        console.headers["X-CSRF-Token"] = sign_in(
            console, db_session, staff_member(db_session), clock.now()
        )
        yield console


@pytest.mark.parametrize(
    ("query", "reason_code"),
    [
        ("until=9999-12-31", "invalid_period"),
        ("until=0001-01-05", "invalid_period"),  # the default 30 days start before year 1
        (f"creditor={HUGE}", "invalid_creditor"),
    ],
)
def test_kpis_for_an_impossible_period_or_creditor_are_a_bad_request(
    staff_console, query, reason_code
):
    for path in ("/console/kpis", "/console/kpis.csv"):
        response = staff_console.get(f"{path}?{query}")

        assert response.status_code == 400, path
        assert response.json()["detail"]["reason_code"] == reason_code


def test_a_console_conversation_id_beyond_any_row_is_an_invalid_request(staff_console):
    response = staff_console.get(f"/console/conversations/{HUGE}")

    assert response.status_code == 422
    assert invalid_field(response, "contact_id")


def test_taking_a_queue_item_beyond_any_row_is_an_invalid_request(staff_console):
    response = staff_console.post(f"/console/queue/{HUGE}/take")

    assert response.status_code == 422
    assert invalid_field(response, "handoff_id")
