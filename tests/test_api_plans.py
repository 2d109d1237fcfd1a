"""Plans: the backend decides; nothing outside the policy is ever agreed."""

import threading
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from backend.debts.models import Debt
from backend.negotiation.models import NegotiationPolicy
from backend.plans.models import PaymentPlan, PlanStatus
from tests import factories
from tests.payment_provider import report_payment

WEB = "/api/v1/contacts/webchat"


def verified(client, db_session, sender="debtor-web", **debt_overrides):
    debtor, debt = factories.debtor_with_debt(db_session, **debt_overrides)
    response = client.post(
        f"{WEB}/{sender}/verification",
        json={"document_suffix": debtor.document_number[-4:], "birth_date": "1988-03-14"},
    )
    assert response.status_code == 200
    return f"{WEB}/{sender}/debts/{debt.reference}", debt


def pay(client, debt, external_id, amount):
    return report_payment(
        client,
        {
            "external_id": external_id,
            "debt_reference": debt.reference,
            "amount": amount,
            "currency": "BRL",
            "paid_at": "2026-11-20T12:00:00Z",
            "method": "pix",
        },
    )


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


def quoted(client, base, ask):
    """The plan the backend quotes for `ask`: accepted as asked, else the first counter-offer."""
    quote = client.post(f"{base}/quotes", json=ask).json()
    return quote["plan"] or quote["counter_offers"][0]


def agree(client, base, proposal, key):
    """Agree a quoted proposal the way the bot does: its ask, quote_id and fingerprint."""
    body = {
        **{name: value for name, value in proposal["ask"].items() if value is not None},
        "quote_id": proposal["quote_id"],
        "fingerprint": proposal["fingerprint"],
    }
    return client.post(f"{base}/plans", json=body, headers={"Idempotency-Key": key})


def test_a_quote_states_the_rates_the_interest_and_the_total_before_agreeing(client, db_session):
    base, _ = verified(client, db_session)

    plan = client.post(f"{base}/quotes", json={"installments": 6}).json()["plan"]

    # 10% down today (R$ 245,09), then R$ 2.205,81 at 1.99%/month on the declining balance:
    # PMT = 2205.81 × 0.0199 / (1 − 1.0199^−6) = 393.6611… → 393,66; the last takes 0,01.
    assert plan["down_payment"] == "245.09"
    amounts = [item["amount"] for item in plan["schedule"]]
    assert amounts == ["245.09"] + ["393.66"] * 5 + ["393.67"]
    assert plan["interest_monthly_pct"] == "1.990"
    assert plan["interest_annual_pct"] == "26.68"  # 1.0199^12 − 1
    assert plan["interest"] == "156.16"  # flat interest (2205.81 × 1.99% × 6) was 263,37
    assert plan["total"] == "2607.06"
    assert sum(map(Decimal, amounts)) == Decimal(plan["total"])
    assert plan["ask"] == {
        "installments": 6,
        "monthly_amount": None,
        "lump_sum": None,
        "down_payment": "245.09",
        "start_date": str(date.today()),
    }
    assert len(plan["fingerprint"]) == 64
    assert plan["quote_id"] == "q_" + plan["fingerprint"][:16]


def test_an_amount_at_or_above_the_balance_is_offered_the_settlement(client, db_session):
    base, _ = verified(client, db_session)

    quote = client.post(f"{base}/quotes", json={"monthly_amount": "3000.00"}).json()

    assert quote["outcome"] == "accepted"
    assert quote["plan"]["kind"] == "settlement"
    assert quote["plan"]["total"] == "2083.27"  # the 15% discount the policy allows
    assert quote["plan"]["interest"] == "0.00"
    assert quote["plan"]["interest_monthly_pct"] == "0.000"


def test_the_agreed_plan_is_exactly_the_quoted_one(client, db_session):
    base, debt = verified(client, db_session)
    proposal = quoted(client, base, {"installments": 6})

    created = agree(client, base, proposal, "key-accept-1")

    assert created.status_code == 201
    plan = created.json()
    assert plan["status"] == "active"
    for field in (
        "kind",
        "balance",
        "discount",
        "interest",
        "interest_monthly_pct",
        "interest_annual_pct",
        "down_payment",
        "installment_count",
        "installment_amount",
        "total",
        "first_due_date",
        "last_due_date",
    ):
        assert plan[field] == proposal[field], field
    quoted_schedule = [
        (i["due_date"], i["amount"], i["is_down_payment"]) for i in proposal["schedule"]
    ]
    stored = [(i["due_date"], i["amount"], i["is_down_payment"]) for i in plan["schedule"]]
    assert stored == quoted_schedule

    replay = agree(client, base, proposal, "key-accept-1")
    assert replay.status_code == 200
    assert replay.json()["id"] == plan["id"]
    db_session.expire_all()
    stored_debt = db_session.get(Debt, debt.id)
    assert stored_debt.status.value == "in_plan"
    assert Decimal(stored_debt.outstanding_minor) / 100 == Decimal(plan["total"])
    summary = client.get(f"{WEB}/debtor-web/summary").json()
    assert summary["debts"][0]["active_plan"]["id"] == plan["id"]


def test_an_idempotency_key_creates_one_plan_and_a_debt_keeps_one(client, db_session):
    base, _ = verified(client, db_session)
    six = quoted(client, base, {"installments": 6})
    five = quoted(client, base, {"installments": 5})

    assert agree(client, base, six, "key-once").status_code == 201

    reused = agree(client, base, five, "key-once")
    assert reused.status_code == 409
    assert reused.json()["detail"]["reason_code"] == "idempotency_key_reused"
    second = agree(client, base, five, "key-twice")
    assert second.status_code == 409
    assert second.json()["detail"]["reason_code"] == "plan_already_active"


def test_a_payment_after_the_quote_changes_it(client, db_session):
    base, debt = verified(client, db_session)
    proposal = quoted(client, base, {"installments": 6})
    assert pay(client, debt, "psp-between", "450.90").status_code == 201

    refused = agree(client, base, proposal, "key-stale-balance")

    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail["reason_code"] == "quote_changed"
    assert detail["message"]
    fresh = detail["counter_offers"][0]
    assert fresh["balance"] == "2000.00" and fresh["installment_count"] == 6
    assert fresh["fingerprint"] != proposal["fingerprint"]
    assert db_session.scalar(select(func.count()).select_from(PaymentPlan)) == 0
    # The new offer, once seen, can be agreed as it is.
    created = agree(client, base, fresh, "key-fresh-balance")
    assert created.status_code == 201
    assert created.json()["total"] == fresh["total"]


def test_a_policy_change_after_the_quote_changes_it(client, db_session):
    base, debt = verified(client, db_session)
    proposal = quoted(client, base, {"installments": 6})
    policy = db_session.scalars(select(NegotiationPolicy)).one()
    policy.plan_interest_monthly_pct = Decimal("2.49")
    db_session.commit()

    refused = agree(client, base, proposal, "key-stale-policy")

    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail["reason_code"] == "quote_changed"
    assert detail["counter_offers"][0]["interest_monthly_pct"] == "2.490"
    assert Decimal(detail["counter_offers"][0]["total"]) > Decimal(proposal["total"])
    assert db_session.scalar(select(func.count()).select_from(PaymentPlan)) == 0


def test_a_policy_edit_that_keeps_the_numbers_still_changes_the_quote(client, db_session):
    base, _ = verified(client, db_session)
    proposal = quoted(client, base, {"installments": 6})
    policy = db_session.scalars(select(NegotiationPolicy)).one()
    policy.max_broken_promises = 2  # a new version of the policy
    db_session.commit()

    refused = agree(client, base, proposal, "key-policy-version")

    assert refused.status_code == 409
    assert refused.json()["detail"]["reason_code"] == "quote_changed"
    assert refused.json()["detail"]["counter_offers"][0]["total"] == proposal["total"]


def test_a_plan_is_agreed_only_from_a_quote(client, db_session):
    base, _ = verified(client, db_session)
    key = {"Idempotency-Key": "key-no-quote"}

    bare = client.post(f"{base}/plans", json={"installments": 6}, headers=key)
    assert bare.status_code == 422
    assert bare.json()["detail"]["reason_code"] == "quote_required"
    proposal = quoted(client, base, {"installments": 6})
    mixed = client.post(
        f"{base}/plans",
        json={
            **proposal["ask"],
            "quote_id": "q_0000000000000000",
            "fingerprint": proposal["fingerprint"],
        },
        headers=key,
    )
    assert mixed.status_code == 422
    assert mixed.json()["detail"]["reason_code"] == "quote_mismatch"
    # Another ask sent with this quote is not what was quoted: the plans for that ask instead.
    other = client.post(
        f"{base}/plans",
        json={
            "installments": 24,
            "quote_id": proposal["quote_id"],
            "fingerprint": proposal["fingerprint"],
        },
        headers=key,
    )
    assert other.status_code == 409
    assert other.json()["detail"]["reason_code"] == "quote_changed"
    assert other.json()["detail"]["counter_offers"][0]["installment_count"] == 12
    assert db_session.scalar(select(func.count()).select_from(PaymentPlan)) == 0


def test_every_kind_of_out_of_policy_request_names_its_reason(client, db_session):
    base, _ = verified(client, db_session)
    today = date.today()
    cases = [
        ({"installments": 3, "down_payment": "10.00"}, "down_payment_too_low"),
        ({"monthly_amount": "50.00"}, "installment_below_minimum"),
        ({"lump_sum": "1000.00"}, "settlement_discount_too_high"),
        ({"installments": 24}, "too_many_installments"),
        (
            {"installments": 3, "start_date": str(today + timedelta(days=40))},
            "first_payment_too_late",
        ),
        ({"installments": 3, "start_date": str(today - timedelta(days=40))}, "start_date_in_past"),
    ]
    for ask, reason in cases:
        quote = client.post(f"{base}/quotes", json=ask).json()
        assert quote["reason_code"] == reason, ask
        assert quote["message"], ask
        assert all(offer["fingerprint"] for offer in quote["counter_offers"])


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


def race(client, base, proposals):
    """Agree every (proposal, key) at the same moment; return the status codes."""
    barrier = threading.Barrier(len(proposals))
    statuses: list[int] = []

    def accept(proposal, key):
        barrier.wait()
        statuses.append(agree(client, base, proposal, key).status_code)

    threads = [threading.Thread(target=accept, args=pair) for pair in proposals]
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
    four = quoted(client, base, {"installments": 4})
    five = quoted(client, base, {"installments": 5})

    assert race(client, base, [(four, "race-1-a"), (five, "race-1-b")]) == [201, 409]
    assert db_session.scalar(active_plans) == 1
    # Once the debt has its plan, racing again changes nothing.
    assert race(client, base, [(four, "race-2-a"), (five, "race-2-b")]) == [409, 409]
    assert db_session.scalar(active_plans) == 1


def test_a_lump_sum_within_the_discount_settles(client, db_session):
    base, _ = verified(client, db_session)
    proposal = quoted(client, base, {"lump_sum": "2100.00"})

    response = agree(client, base, proposal, "key-lump")

    assert response.status_code == 201
    plan = response.json()
    assert plan["kind"] == "settlement"
    assert plan["discount"] == "350.90"
    assert plan["interest_monthly_pct"] == "0.000"
    assert [item["amount"] for item in plan["schedule"]] == ["2100.00"]


def test_another_persons_debt_is_unknown(client, db_session):
    base, _ = verified(client, db_session)
    other_owner, other_debt = factories.debtor_with_debt(db_session)

    response = client.get(f"{WEB}/debtor-web/debts/{other_debt.reference}/terms")

    assert response.status_code == 404
    assert response.json()["detail"]["reason_code"] == "debt_not_found"
