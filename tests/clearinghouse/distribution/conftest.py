"""Fixtures of the distribution tests: the matching fixtures (operators), a real SMTP server
(aiosmtpd) and a real webhook receiver (``http.server``) on 127.0.0.1 that checks Standard Webhooks
signatures and de-duplicates by ``webhook-id``, as a careful receiver does."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tests.clearinghouse.matching.conftest import operators  # noqa: F401 -- re-exported fixture


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpSink:
    port: int
    messages: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 -- aiosmtpd's hook name
        self.messages.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink(port=_free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@dataclass
class Receiver:
    url: str
    secret: str | None = None
    #: Several subscribers' secrets: a signature valid under any of them is accepted.
    secrets: list[str] = field(default_factory=list)
    fail: int = 0
    requests: int = 0
    rejected: int = 0
    #: webhook-id -> verified payload, each id once (the receiver's de-duplication).
    accepted: dict[str, Any] = field(default_factory=dict)
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    from standardwebhooks import Webhook

    port = _free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hooks/forewarn")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with state.lock:
                state.requests += 1
                if state.fail > 0:
                    state.fail -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                payload = None
                for secret in [state.secret, *state.secrets]:
                    if secret is None:
                        continue
                    with contextlib.suppress(Exception):  # standardwebhooks raises on a bad signature
                        payload = Webhook(secret).verify(body, dict(self.headers.items()))
                if payload is None:
                    state.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                webhook_id = self.headers["webhook-id"]
                if webhook_id in state.accepted:
                    state.duplicates += 1
                else:
                    state.accepted[webhook_id] = payload
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
