"""One web chat turn followed through every process by its request id: the gateway's `turn`
line, Rasa's `rasa.turn`, the action server's `action.run` and `backend.call`, and the
backend's `http.request` for each of those calls; no session id, message text, document or
birth date anywhere.

The turn followed is the answer that completes verification, since it calls the backend.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from backend.seed import DEMO_PERSONAS
from tests.stack import seeded_stack

REQUEST_ID = "followed-turn-0003"
PERSONA = next(p for p in DEMO_PERSONAS if p.language.value == "pt_BR")
SUFFIX = "".join(ch for ch in PERSONA.document if ch.isalnum())[-4:]
BORN = PERSONA.birth_date.strftime("%d/%m/%Y")
SAID = ("quanto eu devo?", SUFFIX, BORN)


def events(log: Path, event: str) -> list[dict]:
    """The JSON lines of one event in a service's log (Rasa's own lines are text)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and f'"event": "{event}"' in line:
            found.append(json.loads(line))
    return found


def sample(exposition: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


@pytest.fixture(scope="module")
def followed_turn(tmp_path_factory, trained_model):
    folder = tmp_path_factory.mktemp("followed-turn")
    with seeded_stack(folder, trained_model) as running:
        backend = running.backend_url
        session_id = httpx.post(f"{backend}/chat/api/sessions", timeout=30).json()["session_id"]
        for number, text in enumerate(SAID, start=1):
            answer = httpx.post(
                f"{backend}/chat/api/messages",
                json={"session_id": session_id, "text": text, "language": "pt_BR"},
                headers={"X-Request-ID": f"followed-turn-{number:04d}"},
                timeout=180,
            )
            assert answer.status_code == 200, answer.text
        actions_url = running.rasa_args[1]
        scrapes = {
            "backend": httpx.get(f"{backend}/metrics", timeout=10).text,
            "actions": httpx.get(f"{actions_url}/metrics", timeout=10).text,
        }
        yield {"folder": folder, "answer": answer, "session_id": session_id, "scrapes": scrapes}


def test_the_turn_is_followed_by_its_request_id_through_every_process(followed_turn):
    folder = followed_turn["folder"]
    assert followed_turn["answer"].status_code == 200
    assert followed_turn["answer"].headers["X-Request-ID"] == REQUEST_ID

    [turn] = [t for t in events(folder / "backend.log", "turn") if t["request_id"] == REQUEST_ID]
    assert (turn["channel"], turn["outcome"]) == ("webchat", "bot")
    assert 0 < turn["rasa_ms"] <= turn["duration_ms"] and turn["db_queries"] > 0

    [rasa] = [t for t in events(folder / "rasa.log", "rasa.turn") if t["request_id"] == REQUEST_ID]
    assert rasa["service"] == "rasa"
    assert rasa["duration_ms"] <= turn["rasa_ms"]
    assert rasa["nlu_ms"] > 0 and rasa["action_calls"] >= 1 and rasa["actions_ms"] > 0

    runs = [
        r for r in events(folder / "actions.log", "action.run") if r["request_id"] == REQUEST_ID
    ]
    assert len(runs) == rasa["action_calls"]
    calls = [
        c for c in events(folder / "actions.log", "backend.call") if c["request_id"] == REQUEST_ID
    ]
    assert sum(run["backend_calls"] for run in runs) == len(calls) >= 1
    served = [
        r
        for r in events(folder / "backend.log", "http.request")
        if r["request_id"] == REQUEST_ID and r["route"].startswith("/api/v1/")
    ]
    assert len(served) == len(calls)


def test_no_log_holds_the_session_id_or_what_the_person_wrote(followed_turn):
    for log in ("backend.log", "actions.log", "rasa.log"):
        text = (followed_turn["folder"] / log).read_text(errors="replace")
        assert followed_turn["session_id"] not in text, log
        for said in SAID:  # the suffix as a word: "8909" may be part of a port or a duration
            assert not re.search(rf"(?<![\w.:]){re.escape(said)}(?![\w])", text), (log, said)
        assert PERSONA.document not in text and PERSONA.birth_date.isoformat() not in text


def test_both_servers_expose_the_turn_in_their_metrics(followed_turn):
    backend, actions = followed_turn["scrapes"]["backend"], followed_turn["scrapes"]["actions"]

    assert sample(backend, "acordo_turns_total", channel="webchat", outcome="bot") == len(SAID)
    assert sample(backend, "acordo_hop_seconds_count", hop="rasa") == len(SAID)
    assert sample(backend, "acordo_hop_seconds_count", hop="backend_api") >= 1
    assert sample(actions, "acordo_action_seconds_count") >= 1
    assert sample(actions, "acordo_backend_call_seconds_count") >= 1
