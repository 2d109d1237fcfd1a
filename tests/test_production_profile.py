"""The production profile, driven the way debtors and operators would meet it.

One `ProductionStack` for the module (PostgreSQL, Redis, two backend workers, two action-server
workers, two Rasa instances sharing the tracker store in PostgreSQL and the lock store in Redis,
the scheduler and two reminder senders), in production mode with generated secrets. Debtors
talk to it through the web chat API:

1. conversations served by each Rasa instance reach a verified balance; their trackers are in
   PostgreSQL and the instances take their conversation locks in Redis;
2. the Rasa instance serving a conversation is SIGKILLed in the middle of the verification
   form: the next message is answered by the other one, which continues the form from the
   tracker store; after a restart the conversation goes on;
3. a burst of messages of one conversation sent at once: every message answered and recorded
   once, turns never interleaved, each reply the one Rasa gave to that message;
4. the two senders share the outbox of a small campaign; one is SIGKILLed midway and nobody gets
   a message twice (tests/test_sender_crash.py covers the SIGKILL of a sender in depth, on
   SQLite and PostgreSQL: this only checks it holds with the profile's own senders).

SLOW: starting two Rasa instances takes one to two minutes on two cores, the whole module a few
minutes more. Skipped when redis-server or PostgreSQL is missing, unless ACORDO_REQUIRE_REDIS=1
or ACORDO_REQUIRE_POSTGRES=1 (CI) make that a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.engine import make_url

from backend.campaigns.models import ContactRule
from backend.db import utcnow
from backend.gateway.models import OutboxMessage, OutboxStatus
from backend.seed import DEMO_PERSONAS
from deploy.postgres import PostgresUnavailable, find_bindir
from deploy.profile import ProductionConfig, ProductionStack
from deploy.redis import RedisUnavailable, find_redis_server
from locales import format_money, translate
from tests import factories
from tests.campaign_world import populate, queue_reminders
from tests.fake_channels import BOT_TOKEN, RecordingBotApi, serving

pytestmark = pytest.mark.e2e

PERSONA = next(p for p in DEMO_PERSONAS if p.language.value == "pt_BR")
LANGUAGE = "pt_BR"
ASK_DOCUMENT = translate(
    LANGUAGE,
    "Before we talk about any account, I need to confirm who you are. Please type the last 4 "
    "characters of your document number (CPF, DNI, codice fiscale or SSN).",
)
ASK_BIRTH_DATE = translate(
    LANGUAGE, "Thank you. Now, what is your date of birth? For example: {example}", example="\0"
).split("\0")[0]
CAMPAIGN_SIZE = 200
SENDER_LEASE_SECONDS = 5
WEBHOOK_CALLS = re.compile(r"/webhooks/gateway/webhook|\"rasa\.turn\"")


def required(variable: str) -> bool:
    return os.environ.get(variable) == "1"


def needs(service: str, variable: str, probe) -> None:
    try:
        probe()
    except (RedisUnavailable, PostgresUnavailable) as exc:
        if required(variable):
            pytest.fail(f"{service} is required here ({variable}=1) but unavailable: {exc}")
        pytest.skip(f"{service} unavailable: {exc}")


@pytest.fixture(scope="module")
def telegram() -> Iterator[RecordingBotApi]:
    bot_api = RecordingBotApi()
    with serving(bot_api):
        yield bot_api


@pytest.fixture(scope="module")
def stack(trained_model, telegram) -> Iterator[ProductionStack]:
    needs("redis-server", "ACORDO_REQUIRE_REDIS", find_redis_server)
    needs("PostgreSQL", "ACORDO_REQUIRE_POSTGRES", find_bindir)
    # Under root the server runs as `postgres`, which must be able to enter the folder.
    folder = Path(tempfile.mkdtemp(prefix="acordo-production-"))
    folder.chmod(0o711)
    config = ProductionConfig(
        folder=folder,
        model=trained_model,
        backend_port=0,
        action_port=0,
        rasa_port=0,
        postgres_port=0,
        redis_port=0,
        sender_lease_seconds=SENDER_LEASE_SECONDS,
        # Every test debtor writes from 127.0.0.1: one address, many people.
        env={"ACORDO_WEBCHAT_RATE_LIMIT": "10000/minute", "ACORDO_RASA_TIMEOUT_SECONDS": "120"},
        sender_env={
            "ACORDO_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "ACORDO_TELEGRAM_API_BASE_URL": telegram.base_url,
        },
    )
    try:
        with ProductionStack(config) as running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def tracker_db(stack) -> Iterator[Engine]:
    url = make_url(stack.tracker_store_url).set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def backend_db(stack) -> Iterator[Engine]:
    engine = create_engine(stack.database_url)
    yield engine
    engine.dispose()


class WebChat:
    """One person in the web chat, talking to the gateway through its public API."""

    def __init__(self, backend_url: str) -> None:
        self.backend_url = backend_url
        sessions = f"{backend_url}/chat/api/sessions"
        self.session_id = httpx.post(sessions, timeout=30).json()["session_id"]

    @property
    def sender_id(self) -> str:
        return f"webchat:{self.session_id}"

    def say(self, text: str) -> str:
        response = httpx.post(
            f"{self.backend_url}/chat/api/messages",
            json={"session_id": self.session_id, "text": text, "language": LANGUAGE},
            timeout=180,
        )
        assert response.status_code == 200, response.text
        return texts(response.json())

    async def say_async(self, client: httpx.AsyncClient, text: str) -> str:
        response = await client.post(
            f"{self.backend_url}/chat/api/messages",
            json={"session_id": self.session_id, "text": text, "language": LANGUAGE},
        )
        assert response.status_code == 200, response.text
        return texts(response.json())


def texts(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"] if m.get("text"))


def calls_per_instance(stack: ProductionStack) -> dict[str, int]:
    """How many gateway turns each Rasa instance has logged so far."""
    counts = {}
    for name, service in stack.services.items():
        if name.startswith("rasa-"):
            log = service.log_path.read_text(errors="replace")
            counts[name] = len(WEBHOOK_CALLS.findall(log))
    return counts


def said_by(stack: ProductionStack, chat: WebChat, text: str) -> tuple[str, str]:
    """Send `text`; return the reply and the name of the Rasa instance that answered."""
    before = calls_per_instance(stack)
    reply = chat.say(text)
    deadline = time.monotonic() + 5  # the log line may trail the reply
    while time.monotonic() < deadline:
        grown = [n for n, count in calls_per_instance(stack).items() if count > before[n]]
        if len(grown) == 1:
            return reply, grown[0]
        time.sleep(0.1)
    raise AssertionError(f"no single Rasa instance logged the turn: {before}")


def suffix() -> str:
    return "".join(ch for ch in PERSONA.document if ch.isalnum())[-4:]


def birth_date() -> str:
    return PERSONA.birth_date.strftime("%d/%m/%Y")


def balance() -> str:
    amount = sum(Decimal(v) for v in (PERSONA.principal, PERSONA.fees, PERSONA.interest))
    return plain(format_money(amount, PERSONA.currency, LANGUAGE))


def plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\xa0", " ")


def tracker_events(engine: Engine, sender_id: str) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"),
            {"s": sender_id},
        )
        return [{"event": kind, **json.loads(data)} for kind, data in rows]


def user_texts(engine: Engine, chat: WebChat) -> list[str]:
    return [e["text"] for e in tracker_events(engine, chat.sender_id) if e["event"] == "user"]


def test_conversations_on_each_rasa_instance_reach_a_verified_balance(stack, tracker_db):
    """Each instance serves its share; the trackers are in PostgreSQL, the locks in Redis."""
    lock_keys: set[str] = set()
    watch = redis.Redis.from_url(stack.redis_url, socket_timeout=5)
    served: dict[str, WebChat] = {}
    for _ in range(16):  # new conversations until each instance has one
        chat = WebChat(stack.backend_url)
        asked, instance = said_by(stack, chat, "quanto eu devo?")
        assert ASK_DOCUMENT in asked
        served.setdefault(instance, chat)
        if len(served) == len(stack.rasa_urls):
            break
    assert sorted(served) == ["rasa-1", "rasa-2"]

    for instance, chat in served.items():
        chat.say(suffix())
        with watch.monitor() as monitor:  # the lock commands of the next turn
            verified, answered_by = said_by(stack, chat, birth_date())
            lock_keys |= _commands_seen(monitor, chat.session_id)
        assert answered_by == instance
        assert "Aurora Crédito Financeiro S.A." in verified
        assert balance() in plain(verified)
        assert user_texts(tracker_db, chat) == ["quanto eu devo?", suffix(), birth_date()]
    assert lock_keys, "no Rasa instance took its conversation lock in Redis"
    watch.close()


def _commands_seen(monitor, session_id: str) -> set[str]:
    """The Redis commands naming the conversation seen in the monitor so far (2 s at most)."""
    seen: set[str] = set()
    monitor.connection._sock.settimeout(0.5)  # noqa: SLF001 - redis-py has no per-call timeout
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            command = monitor.next_command()["command"]
        except (redis.TimeoutError, TimeoutError, OSError):
            break
        if session_id in command:
            seen.add(command.split()[0].upper())
    return seen


def test_a_rasa_instance_killed_mid_form_the_other_continues_the_form(stack, tracker_db):
    chat = WebChat(stack.backend_url)
    asked, instance = said_by(stack, chat, "quanto eu devo?")
    assert ASK_DOCUMENT in asked
    asked_birth, same = said_by(stack, chat, suffix())
    assert same == instance
    assert ASK_BIRTH_DATE in asked_birth

    stack.kill(instance)
    try:
        verified, other = said_by(stack, chat, birth_date())
        assert other != instance
        # The birth date was taken as the form's next answer: verified, not asked again.
        assert "Aurora Crédito Financeiro S.A." in verified
        assert balance() in plain(verified)
        assert ASK_DOCUMENT not in verified
    finally:
        stack.restart(instance)

    again = chat.say("quanto eu devo?")
    assert balance() in plain(again)
    assert ASK_DOCUMENT not in again  # still verified after the restart
    assert user_texts(tracker_db, chat) == [
        "quanto eu devo?",
        suffix(),
        birth_date(),
        "quanto eu devo?",
    ]


BURST = [
    "quanto eu devo?",
    "qual o meu saldo?",
    "qual é o valor da dívida?",
    "quanto falta pagar?",
    "me diga o saldo",
    "qual o total da minha dívida?",
]


def test_a_burst_from_one_debtor_is_answered_turn_by_turn_in_order(stack, tracker_db):
    chat = WebChat(stack.backend_url)
    chat.say("quanto eu devo?")
    chat.say(suffix())
    chat.say(birth_date())

    async def burst() -> list[str]:
        async with httpx.AsyncClient(timeout=180) as client:
            return await asyncio.gather(*(chat.say_async(client, t) for t in BURST))

    replies = dict(zip(BURST, asyncio.run(burst()), strict=True))
    assert all(replies.values()), replies  # every message answered

    events = tracker_events(tracker_db, chat.sender_id)
    users = [e["text"] for e in events if e["event"] == "user"]
    assert Counter(users[3:]) == Counter(BURST)  # each recorded exactly once
    # Each turn whole: its user event, then the bot's events, until Rasa listens again.
    turns: list[tuple[str, list[str]]] = []
    listening = True
    for event in events:
        if event["event"] == "user":
            assert listening, f"a turn began before the previous one ended: {event['text']!r}"
            turns.append((event["text"], []))
            listening = False
        elif event["event"] == "bot" and turns:
            turns[-1][1].append(event.get("text") or "")
        elif event["event"] == "action" and event.get("name") == "action_listen":
            listening = True
    for text_sent, bot_texts in turns[3:]:
        assert replies[text_sent] == "\n".join(t for t in bot_texts if t), text_sent


def test_two_senders_share_the_outbox_and_a_killed_one_sends_nothing_twice(
    stack, backend_db, telegram
):
    now = utcnow()
    next(factories._numbers)  # noqa: SLF001 - the demo creditor holds the first factory id
    world = populate(backend_db, now=now, sizes={"telegram": CAMPAIGN_SIZE})
    with backend_db.begin() as connection:  # a gate open at every hour of every day
        connection.execute(
            update(ContactRule)
            .where(ContactRule.country == "BR")
            .values(excluded_weekdays=[], skip_public_holidays=False)
        )
    ours = set(world.address_of.values())
    campaign = OutboxMessage.debtor_id.in_(world.address_of)
    # A sender's leases carry its process id (host:pid:random).
    victim = str(stack.services["sender-1"].process.pid)

    def received() -> Counter:
        return Counter(chat for chat, _ in list(telegram.received) if chat in ours)

    def outbox(column) -> list:
        with backend_db.connect() as connection:
            return list(connection.execute(select(column).where(campaign)).scalars())

    queue_reminders(backend_db, world, now=now)
    # The profile's own scheduler may have queued some of them first, under the same keys.
    assert len(outbox(OutboxMessage.id)) == CAMPAIGN_SIZE
    leased_by: set[str] = set()
    deadline = time.monotonic() + 120
    while True:  # both senders claim a share; SIGKILL sender-1 in the middle of its batch
        holding = {owner.split(":")[1] for owner in outbox(OutboxMessage.lease_owner) if owner}
        leased_by |= holding
        if len(leased_by) == 2 and victim in holding:
            break
        assert time.monotonic() < deadline, f"the senders did not share the outbox: {leased_by}"
        time.sleep(0.02)
    stack.kill("sender-1")
    try:
        deadline = time.monotonic() + 180
        while True:
            statuses = Counter(outbox(OutboxMessage.status))
            if set(statuses) <= {OutboxStatus.SENT, OutboxStatus.IN_DOUBT}:
                break
            assert time.monotonic() < deadline, f"the campaign did not finish: {statuses}"
            time.sleep(0.5)
    finally:
        stack.restart("sender-1")

    assert [chat for chat, times in received().items() if times > 1] == []
    assert statuses[OutboxStatus.IN_DOUBT] <= 1  # the one in flight when the sender died
    assert statuses[OutboxStatus.SENT] + statuses[OutboxStatus.IN_DOUBT] == CAMPAIGN_SIZE
    with backend_db.connect() as connection:
        rows = connection.execute(
            select(OutboxMessage.debtor_id, OutboxMessage.status).where(campaign)
        ).all()
    delivered = received()
    for debtor, status in rows:
        if status is OutboxStatus.SENT:
            assert delivered[world.address_of[debtor]] == 1, "recorded sent, never received"
