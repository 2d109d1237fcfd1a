"""Identity: nothing about a debt is disclosed before verification; attempts are limited."""

from sqlalchemy import select

from backend.contacts.models import ChannelContact
from backend.creditors.models import Creditor
from backend.debtors.models import Debtor
from backend.interactions.models import Interaction
from tests import factories

WEB = "/api/v1/contacts/webchat"


def verify(client, sender, suffix, birth_date="1988-03-14"):
    return client.post(
        f"{WEB}/{sender}/verification",
        json={"document_suffix": suffix, "birth_date": birth_date},
    )


def suffix_of(debtor):
    return debtor.document_number[-4:]


def test_requests_without_the_service_token_are_refused(anonymous_client, client):
    response = anonymous_client.get(f"{WEB}/someone/summary")
    assert response.status_code == 401
    assert response.json()["detail"]["reason_code"] == "unauthorized"

    wrong = anonymous_client.get(
        f"{WEB}/someone/summary", headers={"Authorization": "Bearer not-the-token"}
    )
    assert wrong.status_code == 401


def test_no_debt_detail_before_verification(client, db_session):
    debtor, _ = factories.debtor_with_debt(db_session)

    unknown = client.get(f"{WEB}/never-seen/summary")
    assert unknown.status_code == 404
    assert unknown.json()["detail"]["reason_code"] == "contact_not_found"

    client.get(f"{WEB}/visitor-1")  # first sight
    factories.contact(db_session, debtor, external_id="bound-but-unverified")
    db_session.commit()
    response = client.get(f"{WEB}/bound-but-unverified/summary")
    assert response.status_code == 403
    assert response.json()["detail"]["reason_code"] == "identity_not_verified"
    terms = client.get(f"{WEB}/bound-but-unverified/debts/anything/terms")
    assert terms.status_code == 403


def test_verification_discloses_the_debt_but_never_the_whole_document(client, db_session):
    debtor, debt = factories.debtor_with_debt(db_session)

    response = verify(client, "visitor-2", suffix_of(debtor))

    assert response.status_code == 200
    summary = response.json()
    assert summary["first_name"] == "Ana"
    assert summary["masked_document"].endswith(suffix_of(debtor))
    assert debtor.document_number not in response.text
    [owed] = summary["debts"]
    assert owed["reference"] == debt.reference
    assert owed["outstanding"] == "2450.90"
    assert owed["currency"] == "BRL"
    assert owed["creditor"]["legal_id"].startswith("11.222.333/")
    assert owed["days_overdue"] >= 44
    again = client.get(f"{WEB}/visitor-2/summary")
    assert again.status_code == 200 and again.json()["debts"][0]["reference"] == debt.reference


def test_failed_attempts_are_limited_then_locked(client, db_session):
    debtor, _ = factories.debtor_with_debt(db_session)

    first = verify(client, "guesser", "0000")
    assert first.status_code == 422
    assert first.json()["detail"] == {
        "reason_code": "verification_failed",
        "message": "the details do not match our records",
        "attempts_left": 2,
    }
    assert verify(client, "guesser", suffix_of(debtor), "1999-01-01").status_code == 422
    third = verify(client, "guesser", "1111")
    assert third.status_code == 423
    assert third.json()["detail"]["reason_code"] == "verification_locked"

    # Locked: even the right answer is refused until the lock expires, and the contact says so.
    assert verify(client, "guesser", suffix_of(debtor)).status_code == 423
    assert client.get(f"{WEB}/guesser").json()["locked"] is True
    assert client.get(f"{WEB}/someone-else").json()["locked"] is False
    events = db_session.scalars(select(Interaction.event)).all()
    assert events.count("identity.verification_failed") == 3
    assert "identity.locked" in events


def test_a_bound_contact_can_only_verify_as_its_own_debtor(client, db_session):
    owner, _ = factories.debtor_with_debt(db_session)
    other = factories.debtor(db_session, db_session.get(Creditor, owner.creditor_id))
    factories.contact(db_session, owner, channel="whatsapp", external_id="5511999990000")
    db_session.commit()

    response = client.post(
        "/api/v1/contacts/whatsapp/5511999990000/verification",
        json={"document_suffix": suffix_of(other), "birth_date": "1988-03-14"},
    )

    assert response.status_code == 422
    ok = client.post(
        "/api/v1/contacts/whatsapp/5511999990000/verification",
        json={"document_suffix": suffix_of(owner), "birth_date": "1988-03-14"},
    )
    assert ok.status_code == 200 and ok.json()["debtor_id"] == owner.id


def test_a_malformed_suffix_is_a_clear_error_and_costs_no_attempt(client, db_session):
    factories.debtor_with_debt(db_session)

    response = verify(client, "typo", "12")

    assert response.status_code == 422
    assert response.json()["detail"]["reason_code"] == "invalid_document_suffix"
    contact = db_session.scalars(
        select(ChannelContact).where(ChannelContact.external_id == "typo")
    ).one_or_none()
    assert contact is None or contact.failed_verifications == 0


def test_language_preference_is_remembered_on_the_debtor(client, db_session):
    debtor, _ = factories.debtor_with_debt(db_session)
    verify(client, "polyglot", suffix_of(debtor))

    response = client.put(f"{WEB}/polyglot/language", json={"language": "es"})

    assert response.status_code == 204
    db_session.expire_all()
    assert db_session.get(Debtor, debtor.id).preferred_language.value == "es"
    assert client.get(f"{WEB}/polyglot").json()["language"] == "es"
    bad = client.put(f"{WEB}/polyglot/language", json={"language": "klingon"})
    assert bad.status_code == 422
    assert bad.json()["detail"]["reason_code"] == "invalid_request"


def test_opt_out_is_honoured_and_recorded(client, db_session):
    response = client.post(f"{WEB}/leaver/opt-out")

    assert response.status_code == 204
    assert client.get(f"{WEB}/leaver").json()["opted_out"] is True
    events = db_session.scalars(select(Interaction.event)).all()
    assert events == ["contact.opted_out"]
    assert client.delete(f"{WEB}/leaver/opt-out").status_code == 204
    assert client.get(f"{WEB}/leaver").json()["opted_out"] is False


def test_csat_scores_are_validated_and_stored(client, db_session):
    assert client.post(f"{WEB}/rater/csat", json={"score": 6}).status_code == 422
    response = client.post(f"{WEB}/rater/csat", json={"score": 5, "comment": "obrigada!"})
    assert response.status_code == 201
    assert response.json()["score"] == 5


def test_requests_for_a_person_are_recorded_as_escalations(client, db_session):
    response = client.post(f"{WEB}/needs-help/escalations", json={"reason": "request_human"})

    assert response.status_code == 201
    logged = db_session.scalars(select(Interaction).order_by(Interaction.id)).all()
    assert [entry.event for entry in logged] == ["escalation.requested", "handoff.queued"]
    assert logged[0].data == {"reason": "request_human"}
    assert client.post(f"{WEB}/x/escalations", json={"reason": "bored"}).status_code == 422


def test_a_contact_is_served_only_with_the_gateways_signature_for_it(
    client, unsigned_client, settings, db_session
):
    from datetime import datetime, timedelta, timezone

    from backend.contacts.signing import HEADER, sign_contact

    debtor, _ = factories.debtor_with_debt(db_session)
    assert verify(client, "victim", suffix_of(debtor)).status_code == 200
    assert client.get(f"{WEB}/victim/summary").status_code == 200

    def signature(external_id, *, ttl=timedelta(minutes=5), secret=settings.contact_signing_secret):
        return sign_contact(
            channel="webchat",
            external_id=external_id,
            secret=secret,
            now=datetime.now(timezone.utc),
            ttl=ttl,
        )

    forged = [
        {},  # the service token alone
        {HEADER: signature("attacker")},  # signed, but for another contact
        {HEADER: signature("victim", ttl=timedelta(minutes=-1))},  # expired
        {HEADER: signature("victim", secret="not-the-gateways-secret-0123456789")},
        {HEADER: "v1.9999999999.garbage"},
    ]
    for headers in forged:
        response = unsigned_client.get(f"{WEB}/victim/summary", headers=headers)
        assert response.status_code == 403, headers
        assert response.json()["detail"]["reason_code"] == "contact_not_signed"
        assert debtor.full_name.split()[0] not in response.text
    # Routes without a contact need no signature.
    assert (
        unsigned_client.get("/api/v1/knowledge/search", params={"q": "budget"}).status_code != 403
    )
