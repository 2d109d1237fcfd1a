"""The Rasa project: its data validates, and every test story is predicted without error."""

import re
import subprocess

import pytest

from tests.stack import REPO, VENVS

RASA = str(VENVS / "rasa" / "bin" / "rasa")
BOT = REPO / "bot"


# The one warning allowed: EXTERNAL_ intents (events the gateway sends as
# `/EXTERNAL_...{...}`, like Rasa's trigger_intent) have no NLU examples, on purpose.
EXTERNAL_INTENT_WARNING = re.compile(
    r"The intent 'EXTERNAL_\w+' is listed in the domain file, but is not found in the NLU"
)


def test_training_data_and_domain_validate():
    result = subprocess.run(
        [RASA, "data", "validate"],
        cwd=BOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    warnings = [
        line
        for line in output.splitlines()
        if "UserWarning" in line and not EXTERNAL_INTENT_WARNING.search(line)
    ]
    assert not warnings, "\n".join(warnings)


@pytest.mark.e2e
def test_every_test_story_is_predicted_correctly(trained_model, tmp_path):
    stories = sorted((BOT / "tests").glob("test_stories_*.yml"))
    assert {path.stem for path in stories} >= {
        "test_stories_pt_BR",
        "test_stories_es",
        "test_stories_it",
        "test_stories_en",
    }
    result = subprocess.run(
        [
            RASA,
            "test",
            "--model",
            str(trained_model),
            "--stories",
            "tests",
            "--fail-on-prediction-errors",
            "--out",
            str(tmp_path / "results"),
        ],
        cwd=BOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
