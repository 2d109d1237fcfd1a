"""Cadence policies through the API: read, create or replace, delete, and every refusal."""

from __future__ import annotations

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.campaigns import cadence
from backend.campaigns.models import CadencePolicy, CadenceStep
from backend.campaigns.views import router
from backend.deps import require_service_token
from tests import factories
from tests.conftest import SERVICE_TOKEN

POLICIES = "/api/v1/cadence-policies"
STEPS = [
    {"offset_days": -3, "message": "before_due"},
    {"offset_days": 0, "message": "due_today"},
    {"offset_days": 10, "message": "overdue_reminder"},
    {"offset_days": 25, "message": "final_notice", "escalate": True},
]
CHANNELS = ["telegram", "whatsapp", "email"]


@pytest.fixture
def api(app) -> TestClient:
    """The staff's view: the service token (the router is mounted here until main wires it)."""
    if not any(getattr(route, "path", "").startswith(POLICIES) for route in app.routes):
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(require_service_token)])
    with TestClient(app, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as client:
        yield client


@pytest.fixture
def creditor_id(db_session) -> int:
    creditor = factories.creditor(db_session)
    db_session.commit()
    return creditor.id


def test_a_policy_is_created_read_replaced_and_deleted(api, creditor_id):
    url = f"{POLICIES}/{creditor_id}/medium"
    created = api.put(url, json={"steps": STEPS, "channel_order": CHANNELS})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["channel_order"] == CHANNELS
    assert [(s["level"], s["offset_days"], s["escalate"]) for s in body["steps"]] == [
        (1, -3, False),
        (2, 0, False),
        (3, 10, False),
        (4, 25, True),
    ]
    assert api.get(url).json()["steps"] == body["steps"]

    replaced = api.put(url, json={"steps": STEPS[1:3], "channel_order": ["webchat"]})
    assert replaced.status_code == 200
    assert [s["offset_days"] for s in replaced.json()["steps"]] == [0, 10]
    assert [s["level"] for s in replaced.json()["steps"]] == [1, 2]
    listed = api.get(POLICIES).json()
    assert [(p["creditor_id"], p["risk_segment"]) for p in listed] == [(creditor_id, "medium")]

    assert api.delete(url).status_code == 204
    missing = api.get(url)
    assert missing.status_code == 404
    assert missing.json()["detail"]["reason_code"] == "cadence_policy_not_found"


@pytest.mark.parametrize(
    ("steps", "channels", "reason"),
    [
        ([], CHANNELS, "no_steps"),
        (
            [
                {"offset_days": 3, "message": "due_today"},
                {"offset_days": 3, "message": "overdue_firm"},
            ],
            CHANNELS,
            "offsets_not_increasing",
        ),
        (list(reversed(STEPS[:2])), CHANNELS, "offsets_not_increasing"),
        (
            [{"offset_days": 0, "message": "due_today", "escalate": True}, *STEPS[2:3]],
            CHANNELS,
            "escalation_not_last",
        ),
        (
            [*STEPS[:3], {"offset_days": 20, "message": "final_notice", "escalate": True}]
            + [{"offset_days": 40, "message": "final_notice", "escalate": True}],
            CHANNELS,
            "escalation_not_last",
        ),
        ([{"offset_days": 0, "message": "pay_or_else"}], CHANNELS, "unknown_message"),
        (STEPS, ["whatsapp", "carrier_pigeon"], "unknown_channel"),
        (STEPS, ["whatsapp", "email", "whatsapp"], "duplicate_channel"),
        (STEPS, [], "no_channels"),
    ],
)
def test_a_policy_the_planner_could_not_follow_is_refused_with_its_reason(
    api, creditor_id, db_session, steps, channels, reason
):
    answer = api.put(
        f"{POLICIES}/{creditor_id}/medium", json={"steps": steps, "channel_order": channels}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"]["reason_code"] == reason
    assert db_session.scalar(select(func.count()).select_from(CadencePolicy)) == 0


def test_unknown_segments_and_creditors_are_refused(api, creditor_id):
    body = {"steps": STEPS, "channel_order": CHANNELS}
    unknown_segment = api.put(f"{POLICIES}/{creditor_id}/vip", json=body)
    assert unknown_segment.status_code == 422
    assert unknown_segment.json()["detail"]["reason_code"] == "unknown_risk_segment"
    unknown_creditor = api.put(f"{POLICIES}/{creditor_id + 999}/low", json=body)
    assert unknown_creditor.status_code == 404
    assert unknown_creditor.json()["detail"]["reason_code"] == "creditor_not_found"


def test_a_refused_replacement_keeps_the_policy_as_it_was(api, creditor_id):
    url = f"{POLICIES}/{creditor_id}/high"
    api.put(url, json={"steps": STEPS, "channel_order": CHANNELS})
    refused = api.put(url, json={"steps": list(reversed(STEPS)), "channel_order": CHANNELS})
    assert refused.status_code == 422
    assert [s["offset_days"] for s in api.get(url).json()["steps"]] == [-3, 0, 10, 25]


def test_the_policies_need_the_service_token(app, creditor_id):
    if not any(getattr(route, "path", "").startswith(POLICIES) for route in app.routes):
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(require_service_token)])
    with TestClient(app) as anonymous:
        assert anonymous.get(POLICIES).status_code == 401
        assert anonymous.delete(f"{POLICIES}/{creditor_id}/low").status_code == 401


def test_the_default_cadences_are_seeded_once(db_session):
    creditor = factories.creditor(db_session)
    assert len(cadence.seed_defaults(db_session, creditor)) == 3
    assert cadence.seed_defaults(db_session, creditor) == []
    db_session.commit()
    for segment in cadence.RISK_SEGMENTS:
        policy = cadence.policy_for(db_session, creditor.id, segment)
        steps = [cadence.StepSpec(s.offset_days, s.message, s.escalate) for s in policy.steps]
        # The defaults pass the same validation as the API's input.
        cadence.validate(risk_segment=segment, steps=steps, channel_order=policy.channel_order)
        assert policy.steps[-1].escalate and policy.steps[-1].message == "final_notice"
        assert policy.channel_order == ["whatsapp", "telegram", "webchat", "email"]
    assert db_session.scalar(select(func.count()).select_from(CadenceStep)) == 5 + 6 + 7
