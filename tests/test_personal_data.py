"""Personal data: sealed log texts, masked verification answers, clean access logs, export
and erasure (crypto-shredding), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import String, Text, create_engine, inspect, select, text
from sqlalchemy.types import JSON

from backend import cli
from backend.config import get_settings
from backend.db import get_engine
from backend.debts.models import Debt
from backend.disputes.models import Dispute, DisputeReason, DisputeStatus
from backend.enums import Actor, Channel
from backend.feedback.models import CsatScore
from backend.gateway import inbound as gateway
from backend.gateway.rasa_client import BotMessage, Button
from backend.gateway.verification_answers import MASK, QUESTIONS, asks_for_verification
from backend.interactions.models import Direction, Interaction
from backend.interactions.service import read_text, record
from backend.migrate import alembic_config
from backend.models import Base
from backend.negotiation.engine import PlanKind
from backend.payments.models import Payment
from backend.plans.models import Installment, PaymentPlan, PlanStatus
from backend.privacy import crypto
from backend.privacy.erasure import erase
from backend.privacy.export import export
from backend.privacy.keys import ERASED
from backend.promises.models import PromiseStatus, PromiseToPay
from locales import LOCALES_DIR, translate
from tests import factories

NOW = datetime(2026, 11, 29, 15, 0, tzinfo=timezone.utc)


# --- sealing ---------------------------------------------------------------------------


def test_a_sealed_text_opens_only_with_its_key_and_key_id():
    key = crypto.new_data_key()
    sealed = crypto.seal(key, 7, "meu CPF é 529.982.247-25")

    assert sealed.startswith("enc:1:7:") and "529" not in sealed
    assert crypto.open_sealed(key, sealed) == "meu CPF é 529.982.247-25"
    with pytest.raises(crypto.CannotDecrypt):
        crypto.open_sealed(crypto.new_data_key(), sealed)
    with pytest.raises(crypto.CannotDecrypt):  # moved under another key row
        crypto.open_sealed(key, sealed.replace("enc:1:7:", "enc:1:8:"))


def test_log_texts_are_stored_sealed_and_read_back(db_session):
    creditor = factories.creditor(db_session)
    person = factories.debtor(db_session, creditor)
    contact = factories.contact(db_session)
    record(
        db_session=db_session,
        event=gateway.RECEIVED,
        actor=Actor.DEBTOR,
        direction=Direction.INBOUND,
        contact=contact,
        text="oi, sou a Ana",
    )
    record(db_session=db_session, event="note", actor=Actor.AGENT, debtor_id=person.id, text="ok")
    db_session.commit()

    stored = db_session.execute(text("SELECT text FROM interactions ORDER BY id")).scalars().all()
    assert all(value.startswith("enc:1:") for value in stored)
    assert not any("Ana" in value for value in stored)
    logged = db_session.scalars(select(Interaction).order_by(Interaction.id)).all()
    assert [read_text(db_session=db_session, interaction=i) for i in logged] == [
        "oi, sou a Ana",
        "ok",
    ]


# --- verification answers --------------------------------------------------------------


class ScriptedRasa:
    """Rasa answering each message with the next scripted turn; keeps what it was sent."""

    def __init__(self, *turns: list[BotMessage]) -> None:
        self.turns = list(turns)
        self.received: list[str] = []

    async def send(self, *, sender_id: str, text: str, metadata: dict) -> list[BotMessage]:
        self.received.append(text)
        return self.turns.pop(0)


def converse(db_session, rasa: ScriptedRasa, *texts: str, external_id="masked-1") -> None:
    for said in texts:
        asyncio.run(
            gateway.handle_inbound(
                db_session=db_session,
                channel=Channel.WEBCHAT,
                external_id=external_id,
                text=said,
                language_hint=None,
                rasa=rasa,
                now=NOW,
            )
        )


def inbound_log(db_session) -> list[tuple[str | None, dict]]:
    db_session.expire_all()
    query = select(Interaction).where(Interaction.event == gateway.RECEIVED)
    return [
        (read_text(db_session=db_session, interaction=i), i.data)
        for i in db_session.scalars(query.order_by(Interaction.id))
    ]


ANSWERS = {
    "pt_BR": ("quanto eu devo?", "8909", "14/03/1988"),
    "es": ("¿cuánto debo?", "termina en 678Z", "2 de julio de 1990"),
    "it": ("quanto devo pagare?", "501Z", "10 dicembre 1985"),
    "en": ("how much do I owe?", "it ends in 6789", "05/21/1979"),
}


@pytest.mark.parametrize("language", sorted(ANSWERS))
def test_answers_to_verification_questions_are_masked_in_the_log(db_session, language):
    question, suffix, born = ANSWERS[language]
    ask_document = translate(language, QUESTIONS[0])
    ask_birth_date = translate(language, QUESTIONS[1], example="14/03/1988")
    rasa = ScriptedRasa(
        [BotMessage(text=ask_document)],
        [BotMessage(text=ask_birth_date)],
        [BotMessage(text="✓", buttons=[Button(title="?", payload="/request_human")])],
        [BotMessage(text=ask_document, buttons=[Button(title="?", payload="/request_human")])],
        [BotMessage(text="…")],
    )

    converse(
        db_session, rasa, question, suffix, born, "1234 is my favourite number", "/request_human"
    )

    assert rasa.received[1:3] == [suffix, born]  # Rasa still gets the answers, to verify
    assert inbound_log(db_session) == [
        (question, {}),
        (MASK, {"masked": "verification"}),
        (MASK, {"masked": "verification"}),
        ("1234 is my favourite number", {}),  # the bot had asked nothing about identity
        ("/request_human", {}),  # a button the bot offered is no answer
    ]
    raw = " ".join(
        str(row) for row in db_session.execute(text("SELECT text, data FROM interactions"))
    )
    for secret in (suffix, born):
        assert secret not in raw


@pytest.mark.parametrize("language", ["pt_BR", "es", "it", "en"])
def test_each_verification_question_is_recognised_in_each_language(language):
    for question in QUESTIONS:
        said = translate(language, question, example="03/14/1988", destination="a•••@e•••.com")
        assert asks_for_verification(said)
        assert asks_for_verification(f"{said}\n")
    assert not asks_for_verification(translate(language, "Sorry, I can only read text."))
    assert not asks_for_verification(None)


def test_the_verification_questions_are_still_in_the_catalog():
    template = (LOCALES_DIR / "messages.pot").read_text(encoding="utf-8")
    for question in QUESTIONS:
        assert f'msgid "{question}"' in template, "actions/identity.py changed a question"
        for language in ("pt_BR", "es", "it"):
            assert translate(language, question) != question, (language, question)


def test_the_verification_api_logs_neither_suffix_nor_birth_date(client, db_session, caplog):
    creditor = factories.creditor(db_session)
    factories.debtor(
        db_session, creditor, document_number="98765432177", birth_date=date(1961, 7, 23)
    )
    db_session.commit()
    api = "/api/v1/contacts/webchat/verifier-1/verification"

    with caplog.at_level(logging.DEBUG):
        wrong = client.post(api, json={"document_suffix": "2177", "birth_date": "1961-07-24"})
        right = client.post(api, json={"document_suffix": "2177", "birth_date": "1961-07-23"})
        invalid = client.post(api, json={"document_suffix": "2177", "birth_date": "not a date"})

    assert (wrong.status_code, invalid.status_code) == (422, 422)
    assert right.status_code in (200, 202)  # 202: the e-mailed code is still needed

    logged = " ".join(record.getMessage() for record in caplog.records)
    rows = db_session.execute(text("SELECT text, data FROM interactions")).all()
    stored = " ".join(f"{row.text} {row.data}" for row in rows)
    for secret in ("2177", "1961-07-2", "1961"):
        assert secret not in logged
        assert secret not in stored


# --- access log ------------------------------------------------------------------------


def test_the_access_log_names_routes_never_ids_paths_or_queries(client, caplog):
    phone = "5511999990000"
    with caplog.at_level(logging.INFO):
        client.get(f"/api/v1/contacts/whatsapp/{phone}/summary?phone={phone}")
        client.post(f"/api/v1/contacts/webchat/session-{phone}/opt-out")
        client.get("/chat/static/chat.js")
        client.get(f"/no/such/{phone}")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "203.0.113.9:5000", "GET", f"/x/{phone}", "1.1", 200
        )

    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.requests"]
    assert [line.rsplit(" ", 1)[0] for line in lines] == [
        "GET /api/v1/contacts/{channel}/{external_id}/summary 404",
        "POST /api/v1/contacts/{channel}/{external_id}/opt-out 204",
        "GET /chat/static/{path} 200",
        "GET (unmatched) 404",
    ]
    assert all(line.endswith("ms") for line in lines)
    server_side = [r for r in caplog.records if not r.name.startswith("httpx")]  # not the client
    everything = " ".join(record.getMessage() for record in server_side)
    assert phone not in everything and "203.0.113.9" not in everything
    assert not [record for record in caplog.records if record.name == "uvicorn.access"]


# --- export and erasure ----------------------------------------------------------------


@dataclass
class Person:
    """A debtor with a bit of everything, and the personal values that must go on erasure."""

    ref: str
    debt_reference: str
    secrets: list[str]
    texts: list[str]


def person_with_history(db_session, creditor, policy, tag: str) -> Person:
    name, document, phone = {
        "a": ("Zuleica Quintanilha", "52998224725", "+5511987650001"),
        "b": ("Teodoro Vasconcelos", "11144477735", "+5511987650002"),
    }[tag]
    email = f"{name.split()[0].lower()}@example.org"
    person = factories.debtor(
        db_session,
        creditor,
        external_ref=f"REF-{tag.upper()}",
        full_name=name,
        document_number=document,
        phone=phone,
        email=email,
        birth_date=date(1971, 2, 3) if tag == "a" else date(1966, 9, 8),
    )
    owed = factories.debt(db_session, person, reference=f"DEBT-{tag.upper()}")
    whatsapp = factories.contact(
        db_session, person, channel=Channel.WHATSAPP, external_id=phone.lstrip("+")
    )
    # Wrote before verifying: bound afterwards, the message is the debtor's too.
    web = factories.contact(db_session, external_id=f"session-{tag}-7f3a9c")
    texts = [
        f"meu nome é {name} e meu CPF é {document}",
        f"Olá, {name.split()[0]}! Sua parcela vence amanhã.",
        f"nota: {name} pediu boleto por e-mail {email}",
    ]
    record(
        db_session=db_session,
        event=gateway.RECEIVED,
        actor=Actor.DEBTOR,
        direction=Direction.INBOUND,
        contact=web,
        text=texts[0],
    )
    web.debtor_id = person.id
    record(
        db_session=db_session,
        event=gateway.SENT,
        actor=Actor.BOT,
        direction=Direction.OUTBOUND,
        contact=whatsapp,
        text=texts[1],
    )
    record(
        db_session=db_session, event="note", actor=Actor.AGENT, debtor_id=person.id, text=texts[2]
    )
    plan = PaymentPlan(
        debt_id=owed.id,
        policy_id=policy.id,
        status=PlanStatus.ACTIVE,
        kind=PlanKind.INSTALLMENTS,
        currency="BRL",
        balance_minor=245090,
        discount_minor=0,
        interest_minor=1000,
        interest_monthly_pct=Decimal("1.99"),
        down_payment_minor=24509,
        installment_count=2,
        total_minor=246090,
        idempotency_key=f"plan-{tag}",
        request_fingerprint="f" * 64,
        channel=Channel.WHATSAPP,
        installments=[
            Installment(
                sequence=1,
                is_down_payment=True,
                due_date=date(2026, 12, 1),
                amount_minor=24509,
                paid_minor=24509,
            ),
            Installment(sequence=2, due_date=date(2027, 1, 1), amount_minor=221581, paid_minor=0),
        ],
    )
    db_session.add_all(
        [
            plan,
            PromiseToPay(
                debt_id=owed.id,
                amount_minor=5000,
                promised_date=date(2026, 12, 5),
                status=PromiseStatus.BROKEN,
                channel=Channel.WEBCHAT,
            ),
            Payment(
                external_id=f"pay-{tag}",
                debt_id=owed.id,
                amount_minor=24509,
                currency="BRL",
                paid_at=NOW - timedelta(days=1),
                method="pix",
            ),
            Dispute(
                debt_id=owed.id,
                reason=DisputeReason.WRONG_AMOUNT,
                description=f"{name}: cobraram juros a mais",
                status=DisputeStatus.REJECTED,
                resolution_note=f"ligamos para {phone}",
            ),
            CsatScore(
                debtor_id=person.id,
                contact_id=whatsapp.id,
                channel=Channel.WHATSAPP,
                score=4,
                comment=f"obrigada — {name}",
            ),
        ]
    )
    db_session.commit()
    secrets = [
        *name.split(),
        document,
        document[-4:] + "",
        phone.lstrip("+"),
        email,
        f"session-{tag}-7f3a9c",
        "1971-02-03" if tag == "a" else "1966-09-08",
    ]
    return Person(person.external_ref, owed.reference, secrets, texts)


@pytest.fixture
def people(db_session):
    creditor = factories.creditor(db_session)
    policy = factories.policy(db_session, creditor)
    return (
        person_with_history(db_session, creditor, policy, "a"),
        person_with_history(db_session, creditor, policy, "b"),
    )


def debtor_of(db_session, person: Person):
    from backend.debtors.service import get_by_external_ref

    return get_by_external_ref(db_session=db_session, external_ref=person.ref)


def every_stored_value(db_session) -> str:
    """Each value of each text-like column of every table, as one searchable string."""
    db_session.expire_all()
    values = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
        columns += [c for c in table.columns if c.name in ("birth_date",)]
        for row in db_session.execute(select(*columns)) if columns else []:
            values.extend(str(value) for value in row)
    return "\n".join(values)


def test_an_export_holds_everything_about_one_debtor_and_nothing_about_another(db_session, people):
    a, b = people

    data = export(db_session=db_session, debtor=debtor_of(db_session, a), now=NOW, actor_ref="t")

    dumped = json.dumps(data, ensure_ascii=False)
    for value in [*a.secrets, *a.texts, a.ref, a.debt_reference, "pix", "cobraram juros"]:
        assert value in dumped
    for value in [*b.secrets, *b.texts, b.ref, b.debt_reference]:
        assert value not in dumped
    records = data["records"]
    assert {
        "debts",
        "channel_contacts",
        "payment_plans",
        "installments",
        "promises_to_pay",
        "payments",
        "disputes",
        "csat_scores",
    } <= records.keys()
    assert "debtor_keys" not in records and "wrapped_key" not in dumped
    assert len(records["installments"]) == 2 and len(records["channel_contacts"]) == 2
    assert [i["text"] for i in data["interactions"] if i["text"]] == a.texts
    assert data["debtor"]["full_name"] == "Zuleica Quintanilha"
    exported = db_session.scalars(select(Interaction.event).order_by(Interaction.id)).all()
    assert exported[-1] == "personal_data.exported"


def test_erasure_leaves_no_personal_data_and_keeps_the_record_of_the_debt(
    db_session, engine, people
):
    a, b = people
    debt_before = db_session.execute(
        select(
            Debt.reference, Debt.principal_minor, Debt.outstanding_minor, Debt.status, Debt.due_date
        ).where(Debt.reference == a.debt_reference)
    ).one()
    log_before = db_session.execute(
        select(Interaction.id, Interaction.event, Interaction.occurred_at).order_by(Interaction.id)
    ).all()
    assert all(value in every_stored_value(db_session) for value in a.secrets)

    done = erase(db_session=db_session, debtor=debtor_of(db_session, a), now=NOW, actor_ref="t")

    assert (done.contacts, done.keys_destroyed) == (2, 3)
    stored = every_stored_value(db_session)
    for value in a.secrets:
        assert value not in stored
    for value in b.secrets:  # the search does see what is there
        assert value in stored
    # The legal record: the debt, its plan, payments, promise and dispute as they were.
    assert (
        db_session.execute(
            select(
                Debt.reference,
                Debt.principal_minor,
                Debt.outstanding_minor,
                Debt.status,
                Debt.due_date,
            ).where(Debt.reference == a.debt_reference)
        ).one()
        == debt_before
    )
    debt_id = db_session.scalar(select(Debt.id).where(Debt.reference == a.debt_reference))
    plan = db_session.scalars(select(PaymentPlan).where(PaymentPlan.debt_id == debt_id)).one()
    assert [(i.due_date, i.amount_minor, i.paid_minor) for i in plan.installments] == [
        (date(2026, 12, 1), 24509, 24509),
        (date(2027, 1, 1), 221581, 0),
    ]
    payment = db_session.scalars(select(Payment).where(Payment.debt_id == debt_id)).one()
    assert (payment.amount_minor, payment.paid_at) == (24509, NOW - timedelta(days=1))
    dispute = db_session.scalars(select(Dispute).where(Dispute.debt_id == debt_id)).one()
    assert (dispute.reason, dispute.status, dispute.description) == (
        DisputeReason.WRONG_AMOUNT,
        DisputeStatus.REJECTED,
        ERASED,
    )
    # The log: the same entries at the same times, plus the erasure; the texts unreadable.
    log_after = db_session.scalars(select(Interaction).order_by(Interaction.id)).all()
    assert [(i.id, i.event, i.occurred_at) for i in log_after[:-1]] == log_before
    assert log_after[-1].event == "personal_data.erased"
    texts = [read_text(db_session=db_session, interaction=i) for i in log_after]
    assert texts.count(ERASED) == 3
    assert [t for t in texts if t not in (None, ERASED)] == b.texts
    # Nobody verifies as the erased person any more; a second erasure changes nothing.
    person = debtor_of(db_session, a)
    assert person.erased_at == NOW and person.document_number == ""
    again = erase(db_session=db_session, debtor=person, now=NOW, actor_ref="t")
    assert again.already_erased
    if engine.dialect.name == "sqlite":
        database = Path(engine.url.database)
        on_disk = b"".join(
            path.read_bytes()
            for path in (database, database.with_name(database.name + "-wal"))
            if path.exists()
        )
        for value in [*a.secrets, *a.texts]:
            assert value.encode() not in on_disk, value
        assert b.secrets[0].encode() in on_disk


def rasa_tracker_store(path, rows: list[tuple[str, str]]) -> str:
    """A SQLite file with Rasa's `events` table (as its SQLTrackerStore makes it)."""
    url = f"sqlite:///{path}"
    tracker_engine = create_engine(url)
    with tracker_engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
                "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
                "action_name VARCHAR(255), data TEXT)"
            )
        )
        for sender, said in rows:
            connection.execute(
                text(
                    "INSERT INTO events (sender_id, type_name, timestamp, data) "
                    "VALUES (:sender, 'user', 0, :data)"
                ),
                {"sender": sender, "data": json.dumps({"text": said})},
            )
    tracker_engine.dispose()
    return url


def test_the_command_line_exports_and_erases(db_session, engine, people, tmp_path, monkeypatch):
    a, _ = people
    senders = [f"{c.channel.value}:{c.external_id}" for c in debtor_of(db_session, a).contacts]
    assert senders
    trackers = tmp_path / "rasa-trackers.sqlite3"
    rows = [(sender, "my birthday is 14/03/1988 secret-words") for sender in senders]
    monkeypatch.setenv(
        "ACORDO_TRACKER_STORE_URL",
        rasa_tracker_store(trackers, [*rows, ("webchat:someone-else", "another person")]),
    )
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        output = tmp_path / "export.json"
        assert cli.main(["debtor", "export", a.ref, "-o", str(output)]) == 0
        assert json.loads(output.read_text())["debtor"]["external_ref"] == a.ref
        assert output.stat().st_mode & 0o077 == 0
        assert cli.main(["debtor", "export", "NO-SUCH-REF"]) == 1
        assert cli.main(["debtor", "erase", a.ref]) == 2  # without --yes nothing happens
        db_session.expire_all()
        assert debtor_of(db_session, a).erased_at is None
        assert cli.main(["debtor", "erase", a.ref, "--yes"]) == 0
        get_engine().dispose()
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()
    db_session.expire_all()
    assert debtor_of(db_session, a).full_name == ERASED
    # What Rasa kept of the person's conversations is gone too; nobody else's.
    left = create_engine(f"sqlite:///{trackers}")
    with left.connect() as connection:
        remaining = connection.execute(text("SELECT sender_id FROM events")).scalars().all()
    left.dispose()
    assert remaining == ["webchat:someone-else"]
    assert b"secret-words" not in trackers.read_bytes()


# --- migration -------------------------------------------------------------------------


def test_the_migration_seals_texts_already_logged_and_the_downgrade_opens_them(db_session, engine):
    creditor = factories.creditor(db_session)
    person = factories.debtor(db_session, creditor)
    contact = factories.contact(db_session, person)
    db_session.commit()
    url = engine.url.render_as_string(hide_password=False)
    db_session.close()
    command.downgrade(alembic_config(url), "0004")
    insert = text(
        "INSERT INTO interactions (occurred_at, debtor_id, contact_id, direction, actor, event, "
        "text, data) VALUES (:at, :debtor, :contact, 'inbound', 'debtor', 'message.received', "
        ":text, '{}')"
    )
    with engine.begin() as connection:
        connection.execute(
            insert,
            {"at": NOW, "debtor": person.id, "contact": contact.id, "text": "termina em 8909"},
        )
        connection.execute(
            insert, {"at": NOW, "debtor": person.id, "contact": None, "text": "ligar depois"}
        )
        connection.execute(insert, {"at": NOW, "debtor": None, "contact": None, "text": "sistema"})

    command.upgrade(alembic_config(url), "head")

    raw = db_session.execute(text("SELECT text FROM interactions ORDER BY id")).scalars().all()
    assert raw[0].startswith("enc:1:") and raw[1].startswith("enc:1:")
    assert raw[2] == "sistema"  # nobody's: nobody to erase it with
    logged = db_session.scalars(select(Interaction).order_by(Interaction.id)).all()
    assert [read_text(db_session=db_session, interaction=i) for i in logged] == [
        "termina em 8909",
        "ligar depois",
        "sistema",
    ]
    with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
        connection.execute(text("UPDATE interactions SET text = 'x'"))  # the triggers are back
    db_session.close()

    command.downgrade(alembic_config(url), "0004")
    with engine.connect() as connection:
        opened = connection.execute(text("SELECT text FROM interactions ORDER BY id")).scalars()
        assert opened.all() == ["termina em 8909", "ligar depois", "sistema"]
    assert "debtor_keys" not in inspect(engine).get_table_names()
    command.upgrade(alembic_config(url), "head")
