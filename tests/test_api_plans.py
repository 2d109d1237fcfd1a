"""Plans: the backend decides; nothing outside the policy is ever agreed."""

import threading
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from backend.debts.models import Debt
from backend.plans.models import PaymentPlan, PlanStatus
from tests import factories

WEB = "/api/v1/contacts/webchat"


def verified(client, db_session, sender="debtor-web", **debt_overrides):
    debtor, debt = factories.debtor_with_debt(db_session, **debt_overrides)
    response = client.post(
        f"{WEB}/{sender}/verification",
        json={"document_suffix": debtor.document_number[-4:], "birth_date": "1988-03-14"},
    )
    assert response.status_code == 200
    return f"{WEB}/{sender}/debts/{debt.reference}", debt


def test_terms_name_the_creditor_and_the_limits(client, db_session):
    base, _ = verified(client, db_session)

    terms = client.get(f"{base}/terms").json()

    assert terms["creditor"]["legal_name"] == "Aurora Crédito Financeiro S.A."
    assert terms["creditor"]["legal_id_kind"] == "CNPJ"
    assert terms["max_installments"] == 12
    assert terms["min_installment"] == "80.00"
    assert terms["outstanding"] == "2450.90"


def test_asking_beyond_the_policy_gets_the_closest_allowed_plan(client, db_session):
    base, _ = verified(client, db_session)

    quote = client.post(f"{base}/quotes", json={"installments": 24}).json()

    assert quote["outcome"] == "counter_offer"
    assert quote["reason_code"] == "too_many_installments"
    closest = quote["counter_offers"][0]
    assert closest["kind"] == "installments"
    assert closest["installment_count"] == 12
    assert closest["down_payment"] == "245.09"  # 10% of R$ 2.450,90
    amounts = [item["amount"] for item in closest["schedule"]]
    assert sum(map(Decimal, amounts)) == Decimal(closest["total"])
    settlement = quote["counter_offers"][1]
    assert settlement["kind"] == "settlement"
    assert settlement["total"] == "2083.27"  # at most 15% off


def test_accepting_a_plan_outside_policy_is_refused_with_counter_offers(client, db_session):
    base, debt = verified(client, db_session)

    response = client.post(
        f"{base}/plans", json={"installments": 24}, headers={"Idempotency-Key": "key-too-many"}
    )

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["reason_code"] == "too_many_installments"
    assert detail["counter_offers"][0]["installment_count"] == 12
    assert db_session.scalar(select(func.count()).select_from(PaymentPlan)) == 0


def test_every_kind_of_out_of_policy_request_names_its_reason(client, db_session):
    base, _ = verified(client, db_session)
    today = date.today()
    cases = [
        ({"installments": 3, "down_payment": "10.00"}, "down_payment_too_low"),
        ({"monthly_amount": "50.00"}, "installment_below_minimum"),
        ({"lump_sum": "1000.00"}, "settlement_discount_too_high"),
        (
            {"installments": 3, "start_date": str(today + timedelta(days=40))},
            "first_payment_too_late",
        ),
    ]
    for number, (ask, reason) in enumerate(cases):
        response = client.post(
            f"{base}/plans", json=ask, headers={"Idempotency-Key": f"key-case-{number}"}
        )
        assert response.status_code == 422, ask
        assert response.json()["detail"]["reason_code"] == reason, ask
        assert response.json()["detail"]["message"]

    past = client.post(
        f"{base}/plans",
        json={"installments": 3, "start_date": str(today - timedelta(days=40))},
        headers={"Idempotency-Key": "key-past"},
    )
    assert past.status_code == 422
    assert past.json()["detail"]["reason_code"] == "start_date_in_past"


def test_bad_input_is_a_readable_422(client, db_session):
    base, _ = verified(client, db_session)
    key = {"Idempotency-Key": "key-bad-input"}

    both = client.post(f"{base}/plans", json={"installments": 3, "lump_sum": "10"}, headers=key)
    assert both.status_code == 422
    assert "exactly one" in both.json()["detail"]["message"]
    cents = client.post(f"{base}/quotes", json={"monthly_amount": "100.001"})
    assert cents.status_code == 422
    assert cents.json()["detail"]["reason_code"] == "invalid_amount"
    garbage = client.post(
        f"{base}/quotes", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 422
    assert garbage.json()["detail"]["reason_code"] == "invalid_request"
    no_key = client.post(f"{base}/plans", json={"installments": 3})
    assert no_key.status_code == 422


def test_accepting_an_allowed_plan_creates_it_once(client, db_session):
    base, debt = verified(client, db_session)
    key = {"Idempotency-Key": "key-accept-1"}

    created = client.post(f"{base}/plans", json={"installments": 6}, headers=key)
    assert created.status_code == 201
    plan = created.json()
    assert plan["status"] == "active"
    assert plan["installment_count"] == 6
    assert len(plan["schedule"]) == 7  # down payment + 6
    assert sum(Decimal(item["amount"]) for item in plan["schedule"]) == Decimal(plan["total"])

    replay = client.post(f"{base}/plans", json={"installments": 6}, headers=key)
    assert replay.status_code == 200
    assert replay.json()["id"] == plan["id"]
    reused = client.post(f"{base}/plans", json={"installments": 5}, headers=key)
    assert reused.status_code == 409
    assert reused.json()["detail"]["reason_code"] == "idempotency_key_reused"
    second = client.post(
        f"{base}/plans", json={"installments": 5}, headers={"Idempotency-Key": "key-accept-2"}
    )
    assert second.status_code == 409
    assert second.json()["detail"]["reason_code"] == "plan_already_active"

    db_session.expire_all()
    stored = db_session.get(Debt, debt.id)
    assert stored.status.value == "in_plan"
    assert Decimal(stored.outstanding_minor) / 100 == Decimal(plan["total"])
    summary = client.get(f"{WEB}/debtor-web/summary").json()
    assert summary["debts"][0]["active_plan"]["id"] == plan["id"]


def race(client, base, asks):
    """Post every (installments, key) ask at the same moment; return the status codes."""
    barrier = threading.Barrier(len(asks))
    statuses: list[int] = []

    def accept(count, key):
        barrier.wait()
        response = client.post(
            f"{base}/plans", json={"installments": count}, headers={"Idempotency-Key": key}
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=accept, args=ask) for ask in asks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(statuses)


def test_concurrent_acceptance_leaves_exactly_one_active_plan(client, db_session):
    base, debt = verified(client, db_session)
    active_plans = select(func.count()).where(
        PaymentPlan.debt_id == debt.id, PaymentPlan.status == PlanStatus.ACTIVE
    )

    assert race(client, base, [(4, "race-1-a"), (5, "race-1-b")]) == [201, 409]
    assert db_session.scalar(active_plans) == 1
    # Once the debt has its plan, racing again changes nothing.
    assert race(client, base, [(4, "race-2-a"), (5, "race-2-b")]) == [409, 409]
    assert db_session.scalar(active_plans) == 1


def test_a_lump_sum_within_the_discount_settles(client, db_session):
    base, _ = verified(client, db_session)

    response = client.post(
        f"{base}/plans", json={"lump_sum": "2100.00"}, headers={"Idempotency-Key": "key-lump"}
    )

    assert response.status_code == 201
    plan = response.json()
    assert plan["kind"] == "settlement"
    assert plan["discount"] == "350.90"
    assert [item["amount"] for item in plan["schedule"]] == ["2100.00"]


def test_another_persons_debt_is_unknown(client, db_session):
    base, _ = verified(client, db_session)
    other_owner, other_debt = factories.debtor_with_debt(db_session)

    response = client.get(f"{WEB}/debtor-web/debts/{other_debt.reference}/terms")

    assert response.status_code == 404
    assert response.json()["detail"]["reason_code"] == "debt_not_found"
