"""Verification that cannot be guessed: backoff, locks, possession and the e-mailed code.

The numbers are the defaults (README, "Verification"): per debtor and per address 2 free
failures, then waits of 30 s, 60 s, 120 s…; 5 failures for one debtor lock knowledge-only
verification; codes have 6 digits, last 10 minutes, allow 5 tries and work once.
"""

from __future__ import annotations

import itertools
import re
import socket
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.config import Settings
from backend.contacts.models import ChannelContact
from backend.creditors.models import Creditor
from backend.debtors.models import Debtor
from backend.enums import Actor, Channel, VerificationMode
from backend.interactions.models import Interaction
from backend.outbound.dev_mailbox import DevMailbox, ReceivedMail
from backend.verification import guards
from backend.verification.models import VerificationCode, VerificationFailure
from tests import factories

WEB = "/api/v1/contacts/webchat"
BIRTH = "1988-03-14"
MAX_DEBTOR_FAILURES = 5  # verification_debtor_max_failures
_mailboxes = itertools.count(1)  # the SMTP server outlives each test's database


@pytest.fixture(scope="module")
def mailbox():
    """A real SMTP server on loopback, the one `./run demo` starts as `mail`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = DevMailbox(port=port).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def smtp_settings(settings: Settings, mailbox: DevMailbox) -> Settings:
    settings.smtp_host = mailbox.host
    settings.smtp_port = mailbox.port
    settings.smtp_security = "none"
    settings.smtp_from = "Aurora <no-reply@aurora.example>"
    return settings


def attempt(client, sender, suffix, birth_date=BIRTH, address=None, channel="webchat"):
    body = {"document_suffix": suffix, "birth_date": birth_date}
    if address is not None:
        body["client_address"] = address
    return client.post(f"/api/v1/contacts/{channel}/{sender}/verification", json=body)


def submit_code(client, sender, code):
    return client.post(f"{WEB}/{sender}/verification/code", json={"code": code})


def suffix_of(debtor: Debtor) -> str:
    return debtor.document_number[-4:]


def wrong_suffixes(debtor: Debtor):
    right = suffix_of(debtor)
    return (f"{n:04d}" for n in range(10_000) if f"{n:04d}" != right)


def mail_to(mailbox: DevMailbox, address: str, count: int = 1) -> list[ReceivedMail]:
    """Wait, as the person would, until `count` messages reached `address`."""
    deadline = time.monotonic() + 10
    while len(received := mailbox.to(address)) < count:
        assert time.monotonic() < deadline, f"{count} message(s) expected, {len(received)} came"
        time.sleep(0.02)
    return received


def code_in(mail: ReceivedMail) -> str:
    return re.search(r"\b(\d{6})\b", mail.body).group(1)


def person(db_session, *, mode=VerificationMode.KNOWLEDGE_AND_CODE, email=None, **overrides):
    debtor, _ = factories.debtor_with_debt(db_session)
    db_session.get(Creditor, debtor.creditor_id).verification_mode = mode
    debtor.email = email or f"ana.{next(_mailboxes)}@example.com"
    for name, value in overrides.items():
        setattr(debtor, name, value)
    db_session.commit()
    return debtor


def lock(db_session, debtor: Debtor, clock) -> None:
    debtor.failed_verifications = MAX_DEBTOR_FAILURES
    debtor.verification_locked_until = clock.fixed + timedelta(days=30)
    db_session.commit()


def test_backoff_doubles_after_the_free_failures():
    settings = Settings(environment="test")

    waits = [guards.backoff_seconds(n, settings=settings) for n in range(8)]

    assert waits == [0, 0, 0, 30, 60, 120, 240, 480]
    assert guards.backoff_seconds(1000, settings=settings) == 3600


def test_brute_force_from_many_sessions_and_addresses_is_stopped(client, db_session, clock, engine):
    """2,000 guesses for one debtor, each from a new session and address, by a patient attacker.

    Even with the creditor's weakest setting (knowledge only), at most 5 guesses are evaluated:
    2 free, then waits of 30 s and 60 s, then the 5th failure locks knowledge-only verification.
    """
    debtor = person(db_session, mode=VerificationMode.KNOWLEDGE_ONLY)
    evaluated, backoffs, locked = 0, 0, []
    # About 25 ms a request: the whole run on SQLite, the same path for fewer on PostgreSQL.
    guesses = 2000 if engine.dialect.name == "sqlite" else 200

    for number, guess in zip(range(guesses), wrong_suffixes(debtor), strict=False):
        address = f"10.{number // 65536}.{number // 256 % 256}.{number % 256}"
        response = attempt(client, f"attacker-{number}", guess, address=address)
        detail = response.json()["detail"]
        if response.status_code == 429:
            assert detail["reason_code"] == "verification_backoff"
            backoffs += 1
            clock.fixed += timedelta(seconds=detail["retry_after_seconds"])  # waits as told
            response = attempt(client, f"attacker-{number}", guess, address=address)
            detail = response.json()["detail"]
        if response.status_code == 422:
            assert detail["reason_code"] == "verification_failed"
            evaluated += 1
        else:
            assert response.status_code == 423, response.text
            locked.append(detail)
        clock.fixed += timedelta(seconds=1)

    assert evaluated == MAX_DEBTOR_FAILURES - 1  # the 5th failure is answered with the lock
    assert backoffs == 2  # 30 s before the 4th guess, 60 s before the 5th
    assert len(locked) == guesses - evaluated
    assert all(detail == locked[0] for detail in locked)
    assert locked[0]["reason_code"] == "verification_locked"
    assert locked[0]["second_factor"] == "code_if_matched"

    # The right guess after the lock is refused exactly like a wrong one and reveals nothing.
    right = attempt(client, "attacker-lucky", suffix_of(debtor), address="10.200.0.1")
    wrong = attempt(client, "attacker-unlucky", "0000", address="10.200.0.2")
    assert right.status_code == wrong.status_code == 423
    assert right.json() == wrong.json() == {"detail": locked[0]}
    assert "Ana" not in right.text and "debts" not in right.text
    assert client.get(f"{WEB}/attacker-lucky/summary").status_code == 403
    db_session.expire_all()
    assert db_session.get(Debtor, debtor.id).verification_locked_until is not None
    events = db_session.scalars(select(Interaction.event)).all()
    assert events.count("identity.knowledge_locked") == 1


def test_the_real_person_gets_in_after_the_lock_with_the_emailed_code(
    client, db_session, clock, mailbox
):
    debtor = person(db_session)
    lock(db_session, debtor, clock)

    refused = attempt(client, "real-ana", suffix_of(debtor), address="198.51.100.4")
    assert refused.status_code == 423, refused.text
    assert refused.json()["detail"]["second_factor"] == "code_if_matched"
    [mail] = mail_to(mailbox, debtor.email)
    assert mail.subject == "Seu código de verificação"  # the debtor's language
    assert "Aurora Crédito" in mail.body and "10 minutos" in mail.body

    response = submit_code(client, "real-ana", code_in(mail))

    assert response.status_code == 200
    assert response.json()["debtor_id"] == debtor.id
    assert client.get(f"{WEB}/real-ana/summary").status_code == 200
    verified = db_session.scalars(
        select(Interaction).where(Interaction.event == "identity.verified")
    ).one()
    assert verified.data == {"factors": ["knowledge", "code"]}


def test_correct_details_bring_a_code_not_the_debt(client, db_session, clock, mailbox):
    debtor = person(db_session, email=f"ana.souza{next(_mailboxes)}@example.com")

    response = attempt(client, "web-visitor", suffix_of(debtor), address="2001:db8::1")

    assert response.status_code == 202
    body = response.json()
    assert body == {
        "second_factor": "code_sent",
        "destination": "a•••@e•••.com",
        "expires_at": (clock.fixed + timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
    }
    assert client.get(f"{WEB}/web-visitor/summary").status_code == 403
    [mail] = mail_to(mailbox, debtor.email)
    code = code_in(mail)
    assert code not in response.text
    stored = db_session.scalars(select(VerificationCode)).one()
    assert code not in stored.code_hash and len(stored.code_hash) == 64

    assert submit_code(client, "someone-else", code).json()["detail"]["reason_code"] == (
        "code_expired"
    )
    assert submit_code(client, "web-visitor", code).status_code == 200
    again = submit_code(client, "web-visitor", code)
    assert again.status_code == 422
    assert again.json()["detail"]["reason_code"] == "code_expired"  # single use


def test_codes_expire(client, db_session, clock, mailbox):
    debtor = person(db_session)
    assert attempt(client, "slow", suffix_of(debtor)).status_code == 202
    code = code_in(mail_to(mailbox, debtor.email)[-1])

    clock.fixed += timedelta(minutes=10, seconds=1)
    response = submit_code(client, "slow", code)

    assert response.status_code == 422
    assert response.json()["detail"]["reason_code"] == "code_expired"


def test_codes_allow_five_tries(client, db_session, clock, mailbox):
    debtor = person(db_session)
    assert attempt(client, "fumbler", suffix_of(debtor)).status_code == 202
    code = code_in(mail_to(mailbox, debtor.email)[-1])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    left = [submit_code(client, "fumbler", wrong).json()["detail"] for _ in range(5)]

    assert [d["reason_code"] for d in left] == ["code_incorrect"] * 5
    assert [d["attempts_left"] for d in left] == [4, 3, 2, 1, 0]
    exhausted = submit_code(client, "fumbler", code)
    assert exhausted.status_code == 422
    assert exhausted.json()["detail"]["reason_code"] == "code_expired"
    assert submit_code(client, "fumbler", "12345").status_code == 422  # not 6 digits


def test_a_new_code_replaces_the_previous_one_and_codes_per_hour_are_limited(
    client, db_session, clock, mailbox
):
    debtor = person(db_session)
    for _ in range(5):
        assert attempt(client, "asker", suffix_of(debtor)).status_code == 202
        clock.fixed += timedelta(minutes=1)
    first, *_, last = mail_to(mailbox, debtor.email, 5)

    too_many = attempt(client, "asker", suffix_of(debtor))

    assert too_many.status_code == 429
    assert too_many.json()["detail"]["retry_after_seconds"] == 55 * 60
    if code_in(first) != code_in(last):
        assert submit_code(client, "asker", code_in(first)).status_code == 422
    assert submit_code(client, "asker", code_in(last)).status_code == 200


def test_whatsapp_number_on_file_verifies_with_knowledge_alone_even_when_locked(
    client, db_session, clock
):
    debtor = person(db_session, phone="+5511987650001")
    lock(db_session, debtor, clock)

    response = attempt(client, "5511987650001", suffix_of(debtor), channel="whatsapp")

    assert response.status_code == 200
    assert response.json()["debtor_id"] == debtor.id
    assert client.get("/api/v1/contacts/whatsapp/5511987650001").json()["locked"] is False
    contact = db_session.scalars(
        select(ChannelContact).where(ChannelContact.external_id == "5511987650001")
    ).one()
    assert contact.debtor_id == debtor.id
    # Another number gets no such trust: knowledge-only is locked for this debtor.
    other = attempt(client, "5511900000000", suffix_of(debtor), channel="whatsapp")
    assert other.status_code == 423


def test_a_telegram_chat_bound_by_deep_link_verifies_with_knowledge_alone(
    client, db_session, clock
):
    debtor = person(db_session)
    lock(db_session, debtor, clock)
    factories.contact(
        db_session, debtor, channel=Channel.TELEGRAM, external_id="777", linked_at=clock.fixed
    )
    factories.contact(db_session, debtor, channel=Channel.TELEGRAM, external_id="778")
    db_session.commit()

    assert attempt(client, "777", suffix_of(debtor), channel="telegram").status_code == 200
    # Bound by an earlier verification, not by a link: that proves no possession.
    assert attempt(client, "778", suffix_of(debtor), channel="telegram").status_code == 423


def test_staff_lift_a_lock_and_the_log_says_who(client, db_session, clock):
    debtor = person(db_session, mode=VerificationMode.KNOWLEDGE_ONLY)
    lock(db_session, debtor, clock)
    url = f"/api/v1/debtors/{debtor.id}/verification"
    assert client.get(url).json()["locked"] is True
    assert attempt(client, "after-call", suffix_of(debtor)).status_code == 423

    response = client.post(
        f"{url}/unlock", json={"lifted_by": "agent:maria", "reason": "identity checked by phone"}
    )

    assert response.status_code == 200
    assert response.json() == {
        "debtor_id": debtor.id,
        "locked": False,
        "locked_until": None,
        "failed_verifications": 0,
    }
    lifted = db_session.scalars(
        select(Interaction).where(Interaction.event == "identity.lock_lifted")
    ).one()
    assert lifted.actor == Actor.AGENT and lifted.actor_ref == "agent:maria"
    assert lifted.debtor_id == debtor.id
    assert lifted.data["reason"] == "identity checked by phone"
    assert lifted.data["was_locked"] is True
    assert attempt(client, "after-unlock", suffix_of(debtor)).status_code == 200
    assert client.post(f"{url}/unlock", json={"lifted_by": ""}).status_code == 422
    assert client.get("/api/v1/debtors/999999/verification").status_code == 404


def test_failures_count_per_address_and_only_its_keyed_hash_is_stored(client, db_session, clock):
    # Birth dates nobody has: no debtor counts these, only the address and the sessions.
    for number in range(3):
        response = attempt(
            client, f"hopper-{number}", "0000", f"1970-01-0{number + 1}", "2001:db8::7"
        )
        assert response.status_code == 422
    # Same /64, new session, another birth date: the address waits 30 s.
    blocked = attempt(client, "hopper-9", "0000", "1970-02-01", "2001:db8::8")
    assert blocked.status_code == 429
    assert blocked.json()["detail"]["retry_after_seconds"] == 30
    assert attempt(client, "elsewhere", "0000", "1970-02-01", "203.0.113.9").status_code == 422

    hashes = set(db_session.scalars(select(VerificationFailure.address_hash)))
    assert len(hashes) == 2 and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)
    logged = " ".join(str(i.data) for i in db_session.scalars(select(Interaction)))
    assert "2001:db8" not in logged and "203.0.113" not in logged
    assert attempt(client, "x", "0000", address="not-an-address").status_code == 422


def test_many_failures_everywhere_make_everyone_without_possession_use_the_code(
    client, db_session, settings, mailbox
):
    settings.verification_global_failures_per_hour = 3
    debtor = person(db_session, mode=VerificationMode.KNOWLEDGE_ONLY)
    assert attempt(client, "calm", suffix_of(debtor)).status_code == 200
    for number in range(3):
        attempt(client, f"noise-{number}", "0000", "1970-01-01")

    response = attempt(client, "during-the-surge", suffix_of(debtor))

    assert response.status_code == 202
    assert response.json()["second_factor"] == "code_sent"
    mail_to(mailbox, debtor.email)
