"""The action server listens on 127.0.0.1 only: nothing outside this machine can call actions."""

from __future__ import annotations

import ipaddress
import socket
import subprocess

import httpx
import pytest

from tests.stack import start_action_server


def non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine that is not a loopback one, if it has any."""
    candidates: list[str] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # UDP: nothing is sent, only a route is chosen
            candidates.append(probe.getsockname()[0])
    except OSError:
        pass
    try:
        shown = subprocess.run(
            ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, timeout=10
        ).stdout
        candidates += [line.split()[3].split("/")[0] for line in shown.splitlines()]
    except (OSError, IndexError, subprocess.SubprocessError):
        pass
    for candidate in candidates:
        address = ipaddress.ip_address(candidate)
        if not address.is_loopback and not address.is_unspecified:
            return candidate
    return None


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("action-server")
    service, url = start_action_server("http://127.0.0.1:9", folder, name="loopback-actions")
    yield url
    service.stop()


def test_the_action_server_answers_on_loopback(action_server):
    assert httpx.get(f"{action_server}/health", timeout=5).json() == {"status": "ok"}


def test_the_action_server_is_not_reachable_on_the_machines_network_address(action_server):
    address = non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    port = httpx.URL(action_server).port

    with pytest.raises(OSError), socket.create_connection((address, port), timeout=3):
        pass


def test_the_action_server_sends_no_cors_headers(action_server):
    response = httpx.get(
        f"{action_server}/health", headers={"Origin": "https://evil.example"}, timeout=5
    )

    assert "access-control-allow-origin" not in response.headers
