"""The backend the actions call dies mid-conversation; Rasa is out of the gateway's reach.

The gateway (web chat → Rasa) and the API the action server calls are the same app; here they
run as two processes on one SQLite database, so that the API can be SIGKILLed while the
gateway, Rasa and the action server keep running. A third gateway process, whose Rasa URL
leads nowhere, plays "Rasa is down" for the same conversation.

What the person must see: an apology in their language instead of silence or an error, their
message kept, and, once the API is back on its port, the same question answered, without
proving who they are again.
"""

from __future__ import annotations

import ast
import signal
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from unittest import mock

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.enums import Channel, Language
from backend.gateway import inbound
from backend.interactions.models import Interaction
from backend.interactions.service import read_text
from backend.migrate import upgrade_to_head
from backend.seed import DEMO_PERSONAS, seed
from locales import format_money, translate
from tests import stack as services
from tests.test_end_to_end import WebChat, plain

pytestmark = pytest.mark.e2e

ANA = next(p for p in DEMO_PERSONAS if p.language == Language.PT_BR)
BALANCE_QUESTION = "quanto eu devo?"


def action_apology_msgid() -> str:
    """The action server's apology (`actions.base.APOLOGY`), read from its source.

    The actions import rasa_sdk, which this environment does not have.
    """
    source = (services.REPO / "actions" / "base.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["APOLOGY"]:
            return ast.literal_eval(node.value.args[0])
    raise AssertionError("actions/base.py defines no APOLOGY")


def balance_of(persona) -> str:
    total = sum(Decimal(v) for v in (persona.principal, persona.fees, persona.interest))
    return plain(format_money(total, persona.currency, persona.language.value))


def closed_port_url() -> str:
    return f"http://127.0.0.1:{services.free_port()}"


class Outage:
    """The running processes, and a way to kill and bring back the API on its port."""

    def __init__(self, folder: Path, model: Path) -> None:
        self.folder = folder
        self.database_url = f"sqlite:///{folder / 'outage.sqlite3'}"
        upgrade_to_head(self.database_url)
        self.engine = create_engine(self.database_url)
        with Session(self.engine) as session:
            seed(db_session=session, now=datetime.now(timezone.utc))
        self.started: list[services.Service] = []
        rasa_port = services.free_port()
        self.gateway, self.gateway_url = self._backend(
            "gateway",
            ACORDO_RASA_URL=f"http://127.0.0.1:{rasa_port}",
            ACORDO_RASA_TIMEOUT_SECONDS="120",
        )
        self.api, self.api_url = self._backend("api")
        self.actions, self.actions_url = services.start_action_server(self.api_url, folder)
        self.started.append(self.actions)
        self.rasa, self.rasa_url = services.start_rasa(model, self.actions_url, folder, rasa_port)
        self.started.append(self.rasa)

    def _backend(self, name: str, **env: str) -> tuple[services.Service, str]:
        log_dir = self.folder / name
        log_dir.mkdir(exist_ok=True)
        service, url = services.start_backend(self.database_url, log_dir, **env)
        self.started.append(service)
        return service, url

    def kill_api(self) -> None:
        self.api.process.send_signal(signal.SIGKILL)
        self.api.process.wait(timeout=10)

    def restart_api(self) -> None:
        """The API again, on the port the action server knows."""
        port = int(self.api_url.rsplit(":", 1)[1])
        with mock.patch.object(services, "free_port", return_value=port):
            self.api, _ = self._backend("api-restarted")

    def stop(self) -> None:
        for service in reversed(self.started):
            service.stop()
        self.engine.dispose()


@pytest.fixture(scope="module")
def outage(tmp_path_factory, trained_model):
    running = Outage(tmp_path_factory.mktemp("outage"), trained_model)
    yield running
    running.stop()


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def conversation(engine, session_id: str) -> list[tuple[str, str | None]]:
    """The web chat contact's logged turns: (event, text)."""
    with Session(engine) as session:
        contact = session.scalars(
            select(ChannelContact).where(
                ChannelContact.channel == Channel.WEBCHAT, ChannelContact.external_id == session_id
            )
        ).one()
        entries = session.scalars(
            select(Interaction).where(Interaction.contact_id == contact.id).order_by(Interaction.id)
        )
        return [(e.event, read_text(db_session=session, interaction=e)) for e in entries]


def verified_chat(outage) -> WebChat:
    chat = WebChat(outage.gateway_url, "pt_BR")
    chat.say(BALANCE_QUESTION)
    chat.say("".join(ch for ch in ANA.document if ch.isalnum())[-4:])
    verified = chat.say(ANA.birth_date.strftime("%d/%m/%Y"))
    assert balance_of(ANA) in verified, verified
    return chat


def test_the_api_killed_mid_conversation_apologizes_keeps_the_message_and_continues(outage):
    chat = verified_chat(outage)

    outage.kill_api()
    during = chat.say(BALANCE_QUESTION)

    apology = plain(translate("pt_BR", action_apology_msgid()))
    assert apology in during, during
    assert balance_of(ANA) not in during
    logged = conversation(outage.engine, chat.session_id)
    assert logged[-2] == (inbound.RECEIVED, BALANCE_QUESTION)
    assert logged[-1][0] == inbound.SENT and apology in plain(logged[-1][1])
    assert healthy(f"{outage.rasa_url}/") and healthy(f"{outage.actions_url}/health")
    assert outage.rasa.process.poll() is None and outage.actions.process.poll() is None

    outage.restart_api()
    after = chat.say(BALANCE_QUESTION)

    assert balance_of(ANA) in after, after
    assert "últimos 4" not in after  # no second verification: it is still valid
    assert apology not in after


def test_with_rasa_out_of_reach_the_gateway_apologizes_and_keeps_the_message(outage):
    chat = verified_chat(outage)
    stranded, stranded_url = outage._backend(
        "gateway-without-rasa", ACORDO_RASA_URL=closed_port_url()
    )
    chat.url = f"{stranded_url}/chat/api/messages"

    during = chat.say(BALANCE_QUESTION)

    apology = plain(inbound._apology(Language.PT_BR))
    assert during == apology
    logged = conversation(outage.engine, chat.session_id)
    assert logged[-2] == (inbound.RECEIVED, BALANCE_QUESTION)
    assert logged[-1] == (inbound.UNAVAILABLE, inbound._apology(Language.PT_BR))
    assert stranded.process.poll() is None and healthy(f"{stranded_url}/health")
