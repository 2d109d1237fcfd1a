"""One long-running subprocess of the stack: started, waited for, stopped, killed, restarted.

Each has its environment and its log file and is waited for until healthy, with a deadline.

Each service runs in its own process group, so that a signal reaches the workers it forked
too (uvicorn --workers, Sanic workers): killing the parent alone would leave them serving.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

HEALTH_POLL_SECONDS = 0.3
HEALTH_REQUEST_TIMEOUT = 2.0
# A service without a health route counts as up once it has run this long without exiting.
SETTLE_SECONDS = 2.0


class ServiceFailed(RuntimeError):
    """A service exited or was not healthy by its deadline; the message holds its log tail."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """A command run from `cwd` with `env` added to this process's environment.

    Output (stdout and stderr) goes to `log_path`, appended across restarts. `health_url`
    answers 200 when the service serves; None for workers without HTTP (scheduler, senders).
    """

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        cwd: Path,
        health_url: str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.name, self.command, self.env = name, command, env
        self.log_path, self.cwd, self.health_url = log_path, cwd, health_url
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None

    def __repr__(self) -> str:
        pid = self.process.pid if self.process else None
        return f"<Service {self.name} pid={pid} running={self.running}>"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Service:
        """Start the process (it is not waited for: see `wait_healthy`)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_healthy(self, timeout: float | None = None) -> Service:
        """Return once the service serves; raise ServiceFailed (and stop it) otherwise."""
        assert self.process is not None, f"{self.name} was never started"
        timeout = self.start_timeout if timeout is None else timeout
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceFailed(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if self.health_url is None:
                if time.monotonic() - started >= SETTLE_SECONDS:
                    return self
            elif _answers_ok(self.health_url):
                return self
            time.sleep(HEALTH_POLL_SECONDS)
        self.stop()
        raise ServiceFailed(f"{self.name} not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the service's whole process group (SIGKILL: a crash)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        if sig == signal.SIGKILL:
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; safe on a service that is not running."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.kill(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        # Workers the parent left behind (or all of them, after a timeout).
        self.kill(signal.SIGKILL)

    def restart(self, timeout: float | None = None) -> Service:
        """Stop (or reap, after a kill) and start again with the same command; wait healthy."""
        self.stop()
        return self.start().wait_healthy(timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_REQUEST_TIMEOUT) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_all_healthy(services: list[Service]) -> None:
    """Wait for services started together, each by its own deadline; the first failure raises.

    Waiting in turn would notice a service that exited only after the slow ones came up.
    """
    started = time.monotonic()
    pending = list(services)
    while pending:
        for service in list(pending):
            assert service.process is not None, f"{service.name} was never started"
            if service.process.poll() is not None:
                raise ServiceFailed(
                    f"{service.name} exited with {service.process.returncode}:\n"
                    f"{service.log_tail()}"
                )
            waited = time.monotonic() - started
            if service.health_url is None:
                healthy = waited >= SETTLE_SECONDS
            else:
                healthy = _answers_ok(service.health_url)
            if healthy:
                pending.remove(service)
            elif waited > service.start_timeout:
                raise ServiceFailed(
                    f"{service.name} not healthy after {service.start_timeout:.0f} s:\n"
                    f"{service.log_tail()}"
                )
        time.sleep(HEALTH_POLL_SECONDS)
