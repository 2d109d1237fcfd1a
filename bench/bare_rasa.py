"""The baseline bot: a `rasa init` project (moodbot), trained once per Rasa version, no actions.

The project and its model live under `var/bench/bare-rasa/<rasa version>/`; training it takes
a few minutes on two cores and happens only when that model is missing. It is served with
`rasa run --enable-api` and answered through its REST channel (`/webhooks/rest/webhook`).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy.processes import Service, ServiceFailed, free_port
from tests.stack import RASA_PYTHON, REPO

CACHE = REPO / "var" / "bench" / "bare-rasa"
RASA = RASA_PYTHON.parent / "rasa"
INIT_TIMEOUT = 600  # seconds for `rasa init` (it trains the model)
START_TIMEOUT = 900  # seconds: loading the model alone took three minutes on a busy box

# What a person tells the moodbot, one line per turn (same count as a stack conversation).
MOODBOT_LINES = (
    "hi",
    "I am sad",
    "yes",
    "great",
    "are you a bot?",
    "thanks",
    "bye",
)


class BareRasaUnavailable(RuntimeError):
    """The baseline bot could not be created or trained; the message says why."""


def rasa_version() -> str:
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", "import rasa; print(rasa.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise BareRasaUnavailable(f"cannot read the Rasa version: {result.stderr.strip()}")
    return result.stdout.strip()


def trained_project(progress=print) -> Path:
    """The moodbot project folder with a trained model in models/, trained when missing."""
    project = CACHE / rasa_version()
    if list((project / "models").glob("*.tar.gz")):
        return project
    progress(f"bare Rasa: training a `rasa init` moodbot in {project} (a few minutes)")
    if project.exists():
        shutil.rmtree(project)
    project.mkdir(parents=True)
    started = time.monotonic()
    log = project.parent / f"{project.name}-init.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(RASA), "init", "--no-prompt", "--init-dir", str(project)],
            cwd=project,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            while process.poll() is None:
                if time.monotonic() - started > INIT_TIMEOUT:
                    process.kill()
                    raise BareRasaUnavailable(f"rasa init took over {INIT_TIMEOUT}s; see {log}")
                time.sleep(5)
                progress(f"bare Rasa: training… {time.monotonic() - started:.0f} s")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    if process.returncode != 0 or not list((project / "models").glob("*.tar.gz")):
        raise BareRasaUnavailable(f"rasa init failed ({process.returncode}); see {log}")
    progress(f"bare Rasa: trained in {time.monotonic() - started:.0f} s")
    return project


@dataclass
class BareRasa:
    """A running moodbot: its URL, its process (for memory) and its start time."""

    url: str
    service: Service
    started_in: float  # seconds from spawning to the server answering its health route

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"


@contextmanager
def serving(project: Path, log_dir: Path) -> Iterator[BareRasa]:
    """`rasa run --enable-api` on the moodbot's newest model, stopped afterwards."""
    model = max((project / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    spawned = time.monotonic()
    service = Service(
        "bare-rasa",
        [
            str(RASA),
            "run",
            "--enable-api",
            "--model",
            str(model),
            "--port",
            str(port),
            "--interface",
            "127.0.0.1",
        ],
        env={"SQLALCHEMY_SILENCE_UBER_WARNING": "1"},
        log_path=log_dir / "bare-rasa.log",
        cwd=project,
        health_url=f"{url}/",
    ).start()
    try:
        try:
            service.wait_healthy(START_TIMEOUT)
        except ServiceFailed as exc:
            raise BareRasaUnavailable(str(exc)) from exc
        yield BareRasa(url, service, time.monotonic() - spawned)
    finally:
        service.stop()
