"""The development mailbox: a real SMTP server on loopback that keeps what it receives.

For the demo and the tests only. `python -m backend.outbound.dev_mailbox` accepts mail on
127.0.0.1:1025 (point `ACORDO_SMTP_HOST`/`_PORT` at it, `ACORDO_SMTP_SECURITY=none`) and shows
the inbox at http://127.0.0.1:8025/ (JSON at /messages.json). It keeps messages in memory, binds
loopback only and refuses to start outside `ACORDO_ENVIRONMENT=development` or `test`.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from backend.config import DEVELOPMENT_ENVIRONMENTS

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMail:
    received_at: str
    sender: str
    recipients: list[str]
    subject: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class DevMailbox:
    """An SMTP server on loopback that keeps every message; `start()` then `stop()`."""

    def __init__(self, *, port: int = 1025) -> None:
        self.messages: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname=LOOPBACK, port=port)
        self.host, self.port = LOOPBACK, port

    def start(self) -> DevMailbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def keep(self, mail: ReceivedMail) -> None:
        with self._lock:
            self.messages.append(mail)

    def to(self, recipient: str) -> list[ReceivedMail]:
        """The messages sent to one address, oldest first."""
        with self._lock:
            return [mail for mail in self.messages if recipient in mail.recipients]


class _Handler:
    def __init__(self, mailbox: DevMailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, _server, _session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        parsed = message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        self.mailbox.keep(
            ReceivedMail(
                received_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                sender=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                subject=str(parsed["Subject"] or ""),
                body=body.get_content() if body is not None else "",
                headers={name: str(value) for name, value in parsed.items()},
            )
        )
        return "250 Message accepted for delivery"


def serve_inbox(mailbox: DevMailbox, *, port: int = 8025) -> ThreadingHTTPServer:
    """The inbox as a page on loopback, newest first; runs in a daemon thread."""

    class InboxPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            newest_first = list(reversed(mailbox.messages))
            if self.path == "/messages.json":
                payload = json.dumps([asdict(mail) for mail in newest_first]).encode()
                self._answer(payload, "application/json")
            elif self.path == "/":
                self._answer(_inbox_html(newest_first).encode(), "text/html; charset=utf-8")
            else:
                self.send_error(404)

        def _answer(self, payload: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args) -> None:  # quiet: honcho shows every process's output
            pass

    server = ThreadingHTTPServer((LOOPBACK, port), InboxPage)
    threading.Thread(target=server.serve_forever, daemon=True, name="dev-inbox").start()
    return server


def _inbox_html(messages: list[ReceivedMail]) -> str:
    row = "<article><header><b>{subject}</b><br>to {to} · {at}</header><pre>{body}</pre></article>"
    rows = "".join(
        row.format(
            subject=html.escape(mail.subject),
            to=html.escape(", ".join(mail.recipients)),
            at=html.escape(mail.received_at),
            body=html.escape(mail.body),
        )
        for mail in messages
    )
    return (
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5>"
        "<title>Development mailbox</title>"
        "<style>body{font:15px system-ui;max-width:46em;margin:2em auto}"
        "article{border-bottom:1px solid #ccc;padding:.5em 0}pre{white-space:pre-wrap}</style>"
        "<h1>Development mailbox</h1><p>Mail the backend sent while developing; nothing here "
        "left this machine.</p>" + (rows or "<p>No mail yet.</p>")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.outbound.dev_mailbox", description=__doc__
    )
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    args = parser.parse_args(argv)
    environment = os.environ.get("ACORDO_ENVIRONMENT", "")
    if environment not in DEVELOPMENT_ENVIRONMENTS:
        print(
            "the development mailbox runs only with ACORDO_ENVIRONMENT=development or test",
            file=sys.stderr,
        )
        return 2
    mailbox = DevMailbox(port=args.smtp_port).start()
    inbox = serve_inbox(mailbox, port=args.http_port)
    print(
        f"development mailbox: SMTP on {LOOPBACK}:{args.smtp_port}, "
        f"inbox on http://{LOOPBACK}:{args.http_port}/",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        inbox.shutdown()
        mailbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
