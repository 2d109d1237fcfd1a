"""Recording fakes of the Telegram Bot API and the WhatsApp Graph API for outbound campaigns.

Each records every message it accepted (by recipient and text), so a test can count what a
person would have received, even when the sender that sent it was killed. The Bot API fake
enforces a global messages-per-second limit and answers 429 with `retry_after` beyond it, as
Telegram does.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl

from tests.fake_http import loopback_server, reply_json

BOT_TOKEN = "123456:TEST-token"
PHONE_NUMBER_ID = "106540352242922"
TEMPLATES = {"pt_BR": "lembrete_pagamento", "es": "recordatorio_pago", "en": "payment_reminder"}


class RecordingBotApi:
    """sendMessage accepted at most `per_second` times a second; every accepted one kept."""

    def __init__(self, per_second: int | None = None) -> None:
        self.per_second = per_second
        self.received: list[tuple[str, str]] = []  # (chat_id, text)
        self.refused = 0
        self._lock = threading.Lock()
        self._window: list[float] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                method = self.path.rsplit("/", 1)[-1]
                length = int(self.headers.get("Content-Length") or 0)
                params = _decode(self.headers.get("Content-Type", ""), self.rfile.read(length))
                status, body = fake.answer(method, params)
                reply_json(self, status, json.dumps(body).encode())

            def log_message(self, *_args) -> None:
                pass

        self.server, url, self.thread = loopback_server(Handler)
        self.base_url = f"{url}/bot"  # ACORDO_TELEGRAM_API_BASE_URL

    def answer(self, method: str, params: dict) -> tuple[int, dict]:
        if method == "getMe":
            me = {"id": 123456, "is_bot": True, "first_name": "Acordo", "username": "acordo_bot"}
            return 200, {"ok": True, "result": me}
        if method != "sendMessage":
            return 200, {"ok": True, "result": True}
        with self._lock:
            now = time.monotonic()
            self._window = [at for at in self._window if now - at < 1.0]
            if self.per_second is not None and len(self._window) >= self.per_second:
                self.refused += 1
                retry = {"retry_after": 1}
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": retry,
                }
            self._window.append(now)
            self.received.append((str(params["chat_id"]), params["text"]))
            message_id = len(self.received)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "text": params["text"],
        }
        return 200, {"ok": True, "result": message}

    def counts(self) -> Counter:
        return Counter(chat for chat, _ in list(self.received))


class RecordingGraph:
    """The Graph API's messages endpoint: every text or template message kept, by number."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, object]] = []  # (to, "text"|"template", content)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                kind = payload.get("type", "text")
                content = payload.get(kind)
                with fake._lock:
                    fake.received.append((payload["to"], kind, content))
                    number = len(fake.received)
                answer = {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": payload["to"], "wa_id": payload["to"]}],
                    "messages": [{"id": f"wamid.OUT{number}"}],
                }
                reply_json(self, 200, json.dumps(answer).encode())

            def log_message(self, *_args) -> None:
                pass

        self.server, self.url, self.thread = loopback_server(Handler)

    def counts(self) -> Counter:
        return Counter(to for to, _, _ in list(self.received))


@contextmanager
def serving(*fakes) -> Iterator[None]:
    for fake in fakes:
        fake.thread.start()
    try:
        yield
    finally:
        for fake in fakes:
            fake.server.shutdown()
            fake.server.server_close()
            fake.thread.join(timeout=5)


def sender_environment(database_url: str, bot_api: RecordingBotApi, graph: RecordingGraph) -> dict:
    """The environment a sender subprocess needs to reach the fakes (test secrets allowed)."""
    return {
        "ACORDO_ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "ACORDO_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "ACORDO_TELEGRAM_API_BASE_URL": bot_api.base_url,
        "ACORDO_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "ACORDO_WHATSAPP_ACCESS_TOKEN": "test-access-token",
        "ACORDO_WHATSAPP_APP_SECRET": "test-app-secret",
        "ACORDO_WHATSAPP_VERIFY_TOKEN": "test-verify-token",
        "ACORDO_WHATSAPP_GRAPH_BASE_URL": graph.url,
        "ACORDO_WHATSAPP_TIMEOUT_SECONDS": "5",
        "ACORDO_WHATSAPP_TEMPLATES": json.dumps(TEMPLATES),
        "ACORDO_SMTP_HOST": "",
        "ACORDO_LOG_LEVEL": "WARNING",
    }


def _decode(content_type: str, raw: bytes) -> dict:
    # python-telegram-bot posts a form whose values are JSON (plain strings stay as they are).
    if content_type.startswith("application/json"):
        return json.loads(raw or b"{}")
    params = {}
    for key, value in parse_qsl(raw.decode()):
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params
