"""Plumbing shared by the fake HTTP servers the tests run on 127.0.0.1 (Rasa, Bot API, Graph)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def reply_json(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def loopback_server(
    handler: type[BaseHTTPRequestHandler],
) -> tuple[ThreadingHTTPServer, str, threading.Thread]:
    """A server on a free loopback port, its URL, and the (not yet started) serving thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    return server, f"http://127.0.0.1:{server.server_address[1]}", thread
