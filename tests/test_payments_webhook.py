"""The payment provider's webhook: its own signed, timestamped credential, nobody else's."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from backend.exceptions import Unauthenticated
from backend.interactions.models import Interaction
from backend.payments import webhook
from tests import factories
from tests.conftest import SERVICE_TOKEN
from tests.payment_provider import PAYMENTS, report_payment, signed_headers

NOW = 1_764_000_000


def payment(debt, external_id="psp-1", amount="100.00") -> dict:
    return {
        "external_id": external_id,
        "debt_reference": debt.reference,
        "amount": amount,
        "currency": "BRL",
        "paid_at": "2026-11-20T12:00:00Z",
        "method": "pix",
    }


# --- the signature rule ---------------------------------------------------------------


def verify(body=b"{}", *, timestamp=str(NOW), signature=None, now=NOW, secret="s" * 40):
    if signature is None:
        signed_at = int(timestamp) if timestamp.isdigit() else NOW
        signature = webhook.sign(secret=secret, timestamp=signed_at, body=body)
    webhook.verify(secret="s" * 40, body=body, timestamp=timestamp, signature=signature, now=now)


def test_a_fresh_signature_over_timestamp_and_body_is_accepted():
    verify()
    verify(now=NOW + webhook.MAX_AGE_SECONDS)
    verify(now=NOW - webhook.MAX_AGE_SECONDS)


@pytest.mark.parametrize(
    ("kwargs", "reason_code"),
    [
        ({"timestamp": ""}, "signature_required"),
        ({"signature": ""}, "signature_required"),
        ({"timestamp": "soon"}, "invalid_timestamp"),
        ({"secret": "t" * 40}, "invalid_signature"),
        ({"signature": "sha256=" + "0" * 64}, "invalid_signature"),
        ({"now": NOW + webhook.MAX_AGE_SECONDS + 1}, "timestamp_expired"),  # a replay
        ({"now": NOW - webhook.MAX_AGE_SECONDS - 1}, "timestamp_expired"),  # from the future
    ],
)
def test_unsigned_wrongly_signed_or_stale_requests_are_refused(kwargs, reason_code):
    with pytest.raises(Unauthenticated) as refused:
        verify(**kwargs)
    assert refused.value.reason_code == reason_code


def test_the_timestamp_is_part_of_what_is_signed():
    body = b'{"amount": "1"}'
    signature = webhook.sign(secret="s" * 40, timestamp=NOW, body=body)
    with pytest.raises(Unauthenticated, match="does not match"):
        webhook.verify(
            secret="s" * 40, body=body, timestamp=str(NOW + 1), signature=signature, now=NOW
        )


# --- the route ------------------------------------------------------------------------


def test_a_signed_payment_is_recorded_once_with_its_caller(anonymous_client, db_session):
    _, debt = factories.debtor_with_debt(db_session)

    first = report_payment(anonymous_client, payment(debt))
    again = report_payment(anonymous_client, payment(debt))

    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    received = db_session.scalars(
        select(Interaction).where(Interaction.event == "payment.received")
    ).one()
    assert received.data["recorded_by"] == "payment_provider"


def test_the_action_server_token_cannot_record_a_payment(client, db_session):
    _, debt = factories.debtor_with_debt(db_session)

    response = client.post(
        PAYMENTS, json=payment(debt), headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    )

    assert response.status_code == 401
    assert response.json()["detail"]["reason_code"] == "signature_required"
    assert db_session.scalars(select(Interaction)).all() == []


@pytest.mark.parametrize(
    ("signing", "reason_code"),
    [
        ({"secret": SERVICE_TOKEN}, "invalid_signature"),  # signed with the wrong secret
        ({"timestamp": int(time.time()) - 301}, "timestamp_expired"),  # replayed 5 min later
    ],
)
def test_wrong_secrets_and_replays_are_refused(anonymous_client, db_session, signing, reason_code):
    _, debt = factories.debtor_with_debt(db_session)

    response = report_payment(anonymous_client, payment(debt), **signing)

    assert response.status_code == 401
    assert response.json()["detail"]["reason_code"] == reason_code


def test_a_body_changed_after_signing_is_refused(anonymous_client, db_session):
    _, debt = factories.debtor_with_debt(db_session)
    signed = json.dumps(payment(debt)).encode()
    tampered = json.dumps(payment(debt, amount="100000.00")).encode()

    response = anonymous_client.post(PAYMENTS, content=tampered, headers=signed_headers(signed))

    assert response.status_code == 401


def test_a_signed_but_invalid_payment_is_a_validation_error(anonymous_client, db_session):
    _, debt = factories.debtor_with_debt(db_session)

    response = report_payment(anonymous_client, {**payment(debt), "amount": "-1"})

    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"] == "amount"
