"""A message whose request was sent but never answered may have arrived: it is not sent again.

Against loopback servers that accept a connection and never answer, and one that is closed.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import anyio
import httpx
import pytest
from telegram.error import NetworkError, TimedOut

from backend.config import Settings
from backend.gateway.channels import telegram, whatsapp
from backend.gateway.channels.base import (
    DeliveryUncertain,
    OutboundText,
    Recipient,
    TransientSendError,
)
from backend.gateway.channels.whatsapp import WhatsAppAdapter
from backend.gateway.models import OutboundChannel


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Reads requests and never answers them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for connection in held:
        connection.close()
    listener.close()


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _whatsapp_settings(port: int) -> Settings:
    return Settings(
        environment="test",
        whatsapp_phone_number_id="1234",
        whatsapp_access_token="token",
        whatsapp_app_secret="app-secret-for-tests-0123456789abcdef",
        whatsapp_verify_token="verify-token-for-tests-0123456789ab",
        whatsapp_graph_base_url=f"http://127.0.0.1:{port}",
        whatsapp_timeout_seconds=0.5,
    )


def _send_whatsapp(settings: Settings) -> None:
    recipient = Recipient(
        channel=OutboundChannel.WHATSAPP, address="5511999990000", contact_id=None, language="en"
    )

    async def send() -> None:
        adapter = WhatsAppAdapter(settings)
        try:
            # Inside the 24-hour window: no template involved.
            await adapter.send(recipient, OutboundText(text="A reminder"))
        finally:
            await adapter.aclose()

    anyio.run(send)


def test_an_unanswered_whatsapp_request_is_in_doubt_not_retried(silent_server):
    with pytest.raises(DeliveryUncertain) as refused:
        _send_whatsapp(_whatsapp_settings(silent_server))
    assert not isinstance(refused.value, TransientSendError)


def test_a_whatsapp_server_that_cannot_be_reached_is_retried(silent_server):
    with pytest.raises(TransientSendError):
        _send_whatsapp(_whatsapp_settings(_closed_port()))


def _timed_out(cause: Exception) -> TimedOut:
    try:
        raise TimedOut() from cause
    except TimedOut as exc:
        return exc


def test_telegram_timeouts_are_in_doubt_and_network_failures_retried():
    assert isinstance(telegram.send_error(TimedOut()), DeliveryUncertain)
    assert isinstance(telegram.send_error(_timed_out(httpx.ReadTimeout("x"))), DeliveryUncertain)
    # Never sent: no connection was made, or none was free in the pool.
    assert isinstance(
        telegram.send_error(_timed_out(httpx.ConnectTimeout("x"))), TransientSendError
    )
    assert isinstance(telegram.send_error(_timed_out(httpx.PoolTimeout("x"))), TransientSendError)
    assert isinstance(telegram.send_error(NetworkError("connection refused")), TransientSendError)


def test_whatsapp_send_error_keeps_refusals_and_busy_answers_apart():
    from backend.gateway.channels.whatsapp_api import GraphError

    assert isinstance(whatsapp.send_error(GraphError("x", status=503)), TransientSendError)
    assert isinstance(whatsapp.send_error(GraphError("x", maybe_delivered=True)), DeliveryUncertain)
    assert isinstance(
        whatsapp.send_error(GraphError("x", maybe_delivered=False)), TransientSendError
    )
