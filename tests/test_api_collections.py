"""Promises, disputes, already-paid claims and payments."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from backend.debts.models import Debt
from backend.interactions.models import Interaction
from backend.promises.models import PromiseToPay
from tests import factories
from tests.payment_provider import report_payment

WEB = "/api/v1/contacts/webchat"


def verified(client, db_session, sender="debtor-web", **debt_overrides):
    debtor, debt = factories.debtor_with_debt(db_session, **debt_overrides)
    client.post(
        f"{WEB}/{sender}/verification",
        json={"document_suffix": debtor.document_number[-4:], "birth_date": "1988-03-14"},
    )
    return f"{WEB}/{sender}/debts/{debt.reference}", debt


def pay(client, debt, external_id, amount, currency="BRL"):
    return report_payment(
        client,
        {
            "external_id": external_id,
            "debt_reference": debt.reference,
            "amount": amount,
            "currency": currency,
            "paid_at": "2026-11-20T12:00:00Z",
            "method": "pix",
        },
    )


def in_days(days):
    return str(date.today() + timedelta(days=days))


def test_a_promise_within_policy_is_recorded_and_kept_by_payment(client, db_session):
    base, debt = verified(client, db_session)

    created = client.post(
        f"{base}/promises", json={"amount": "500.00", "promised_date": in_days(5)}
    )
    assert created.status_code == 201
    assert created.json()["status"] == "active"
    twice = client.post(f"{base}/promises", json={"amount": "100.00", "promised_date": in_days(5)})
    assert twice.status_code == 409
    assert twice.json()["detail"]["reason_code"] == "promise_already_active"

    assert pay(client, debt, "psp-1", "300.00").status_code == 201
    assert pay(client, debt, "psp-2", "200.00").status_code == 201

    db_session.expire_all()
    promise = db_session.scalars(select(PromiseToPay)).one()
    assert promise.status.value == "kept"


def test_promises_outside_policy_are_refused(client, db_session):
    base, _ = verified(client, db_session)

    late = client.post(f"{base}/promises", json={"amount": "100.00", "promised_date": in_days(30)})
    assert late.status_code == 422
    assert late.json()["detail"]["reason_code"] == "first_payment_too_late"
    assert late.json()["detail"]["latest_date"] == in_days(10)
    too_much = client.post(
        f"{base}/promises", json={"amount": "99999.00", "promised_date": in_days(2)}
    )
    assert too_much.status_code == 422
    assert too_much.json()["detail"]["reason_code"] == "amount_exceeds_balance"


def test_a_dispute_pauses_collection(client, db_session):
    base, debt = verified(client, db_session)

    opened = client.post(
        f"{base}/disputes", json={"reason": "not_mine", "description": "Nunca tive esse cartão"}
    )

    assert opened.status_code == 201
    db_session.expire_all()
    assert db_session.get(Debt, debt.id).status.value == "disputed"
    quote = client.post(f"{base}/quotes", json={"installments": 3}).json()
    assert quote["outcome"] == "refused" and quote["reason_code"] == "debt_disputed"
    plan = client.post(
        f"{base}/plans", json={"installments": 3}, headers={"Idempotency-Key": "key-disputed"}
    )
    assert plan.status_code == 409
    assert plan.json()["detail"]["reason_code"] == "debt_disputed"
    promise = client.post(f"{base}/promises", json={"amount": "10", "promised_date": in_days(1)})
    assert promise.status_code == 409
    events = db_session.scalars(select(Interaction.event)).all()
    assert "dispute.opened" in events and "escalation.requested" in events
    again = client.post(f"{base}/disputes", json={"reason": "other"})
    assert again.status_code == 409


def test_already_paid_claims_are_recorded(client, db_session):
    base, _ = verified(client, db_session)

    claim = client.post(
        f"{base}/payment-claims",
        json={"paid_on": in_days(-3), "amount": "2450.90", "receipt_reference": "E2E123"},
    )
    assert claim.status_code == 201
    assert claim.json()["amount"] == "2450.90"
    future = client.post(f"{base}/payment-claims", json={"paid_on": in_days(3)})
    assert future.status_code == 422
    assert future.json()["detail"]["reason_code"] == "date_in_future"


def test_payments_are_idempotent_by_external_id(client, db_session):
    _, debt = verified(client, db_session)

    first = pay(client, debt, "psp-42", "450.90")
    repeat = pay(client, debt, "psp-42", "450.90")

    assert first.status_code == 201 and repeat.status_code == 200
    assert first.json()["id"] == repeat.json()["id"]
    assert repeat.json()["debt_outstanding"] == "2000.00"
    different = pay(client, debt, "psp-42", "10.00")
    assert different.status_code == 409
    assert different.json()["detail"]["reason_code"] == "payment_external_id_reused"
    wrong_currency = pay(client, debt, "psp-43", "10.00", currency="EUR")
    assert wrong_currency.status_code == 422
    assert wrong_currency.json()["detail"]["reason_code"] == "currency_mismatch"
    unknown = report_payment(
        client,
        {
            "external_id": "psp-44",
            "debt_reference": "nope",
            "amount": "1",
            "currency": "BRL",
            "paid_at": "2026-11-20T12:00:00Z",
        },
    )
    assert unknown.status_code == 404


def test_paying_a_plan_in_full_completes_it_and_the_debt(client, db_session):
    base, debt = verified(client, db_session)
    quoted = client.post(f"{base}/quotes", json={"installments": 2}).json()["plan"]
    agree = {**quoted["ask"], "quote_id": quoted["quote_id"], "fingerprint": quoted["fingerprint"]}
    plan = client.post(
        f"{base}/plans", json=agree, headers={"Idempotency-Key": "key-pay-plan"}
    ).json()

    for number, item in enumerate(plan["schedule"]):
        assert pay(client, debt, f"psp-plan-{number}", item["amount"]).status_code == 201

    summary = client.get(f"{WEB}/debtor-web/summary").json()["debts"][0]
    assert summary["status"] == "paid"
    assert summary["outstanding"] == "0.00"
    assert summary["active_plan"] is None
    overpaid = pay(client, debt, "psp-extra", "5.00")
    assert overpaid.json()["overpaid"] == "5.00"


def test_the_interaction_log_is_append_only_in_the_database(client, db_session, engine):
    client.post(f"{WEB}/someone/opt-out")

    for statement in ("UPDATE interactions SET event = 'x'", "DELETE FROM interactions"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert db_session.scalars(select(Interaction.event)).all() == ["contact.opted_out"]
