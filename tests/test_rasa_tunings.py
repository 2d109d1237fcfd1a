"""The Rasa process's tunings (bot/connectors) change its speed, never what it accepts.

Runs in the Rasa environment as a subprocess: Rasa can't be imported here.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.stack import RASA_PYTHON, REPO

# Answers of an action server, valid and broken in every way the schema can notice; each is
# judged by Rasa's own `jsonschema.validate` against its spec and by the tuned validation.
PARITY_SCRIPT = r"""
import copy, json, random, sys
import connectors  # installs the tunings, as Rasa does when it loads credentials.yml
from jsonschema import ValidationError, validate
from rasa.core.actions.action import RemoteAction
from rasa_sdk.events import (
    ActionExecuted, ActiveLoop, AllSlotsReset, BotUttered, ConversationPaused, FollowupAction,
    Restarted, SessionStarted, SlotSet, UserUttered, UserUtteranceReverted,
)

spec = RemoteAction.action_response_format_spec()
tuned = RemoteAction("action_x", None)
events = [
    SlotSet("verified", True), SlotSet("amount", None), ActiveLoop("plan_form"), ActiveLoop(None),
    FollowupAction("action_listen"), BotUttered("oi", {"buttons": []}), Restarted(),
    AllSlotsReset(), SessionStarted(), ConversationPaused(), UserUtteranceReverted(),
    ActionExecuted("action_listen"),
    UserUttered("oi", {"intent": {"name": "greet", "confidence": 0.9},
                       "entities": [{"entity": "amount", "value": 300, "start": 0, "end": 3}]}),
]
broken_values = [None, 3, "x", [], {}, 1.5, True, [1], {"a": 1}]
rng = random.Random(2026)
answers = [{"events": events, "responses": [{"text": "oi", "buttons": []}]}, {}, [], "x"]
for _ in range(300):
    answer = {"events": copy.deepcopy(rng.sample(events, rng.randint(0, 4))),
              "responses": [{"text": "t"}]}
    target = answer
    if answer["events"] and rng.random() < 0.8:
        target = rng.choice(answer["events"])
        if rng.random() < 0.2 and isinstance(target.get("parse_data"), dict):
            target = target["parse_data"]
    key = rng.choice(list(target) + ["event", "timestamp", "metadata", "name", "value"])
    if rng.random() < 0.2:
        target.pop(key, None)
    else:
        target[key] = rng.choice(broken_values)
    answers.append(answer)

def verdict(check, answer):
    try:
        check(answer)
        return "valid"
    except ValidationError:
        return "invalid"
    except Exception as exc:
        return type(exc).__name__

results = [
    (verdict(lambda a: validate(a, spec), a), verdict(tuned._validate_action_result, a))
    for a in answers
]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def verdicts() -> list[tuple[str, str]]:
    if not RASA_PYTHON.exists():
        pytest.skip("the Rasa environment is not installed (./run setup)")
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", PARITY_SCRIPT],
        cwd=REPO / "bot",
        env={"PYTHONPATH": str(REPO / "bot"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [tuple(pair) for pair in json.loads(done.stdout.strip().splitlines()[-1])]


def test_the_tuned_validation_accepts_and_refuses_what_rasa_does(verdicts):
    assert len(verdicts) > 300
    assert [rasa for rasa, _ in verdicts] == [tuned for _, tuned in verdicts]
    # The generated answers exercise both sides.
    kinds = {rasa for rasa, _ in verdicts}
    assert kinds == {"valid", "invalid"}, kinds
