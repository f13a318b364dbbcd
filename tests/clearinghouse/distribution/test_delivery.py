"""The webhook sender's kept-alive connections, against real HTTP servers on 127.0.0.1: reused for
the same host and checked address, not reused when the server does not keep them, and replaced once
when the server closed an idle one (the request then goes through on a new connection)."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from forewarn.clearinghouse.distribution.delivery import ConnectionPool, HttpxWebhookSender, WebhookCall
from forewarn.clearinghouse.distribution.urls import Resolver


@dataclass
class Counting:
    url: str = ""
    connections: int = 0
    ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _serve(protocol: str, *, drop_after_answer: bool = False) -> Iterator[Counting]:
    state = Counting()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = protocol

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with state.lock:
                state.ids.append(self.headers["webhook-id"])
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            if drop_after_answer:
                # Closes without saying so (no "Connection: close"), as an idle timeout does.
                self.close_connection = True

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[Any, Any]:
            with state.lock:
                state.connections += 1
            return super().get_request()

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def keep_alive() -> Iterator[Counting]:
    yield from _serve("HTTP/1.1")


@pytest.fixture
def one_shot() -> Iterator[Counting]:
    yield from _serve("HTTP/1.0")


@pytest.fixture
def dropping() -> Iterator[Counting]:
    yield from _serve("HTTP/1.1", drop_after_answer=True)


def _call(url: str, n: int) -> WebhookCall:
    return WebhookCall(
        url=f"{url}?n={n}",
        webhook_id=f"msg_pool_{n}",
        payload=json.dumps({"n": n}),
        secret="whsec_" + base64.b64encode(os.urandom(32)).decode(),
        timestamp=datetime.now(UTC),
    )


@dataclass
class _Fixed(Resolver):
    """Every host resolves to one address (no DNS in tests)."""

    address: str = "127.0.0.1"

    async def lookup(self, host: str, port: int) -> list[str]:
        return [self.address]


def _sender(pool: ConnectionPool) -> HttpxWebhookSender:
    return HttpxWebhookSender(timeout=5, allow_insecure=True, allow_private=True, pool=pool)


async def test_connections_are_kept_alive_per_host_and_address(keep_alive: Counting) -> None:
    pool = ConnectionPool()
    sender = _sender(pool)
    for n in range(5):
        await sender.send(_call(keep_alive.url, n))
    assert keep_alive.ids == [f"msg_pool_{n}" for n in range(5)]
    assert keep_alive.connections == 1
    # The same server under a host name (resolved to the same address): another key, so another
    # connection; then reused for that name.
    named = HttpxWebhookSender(
        timeout=5, allow_insecure=True, allow_private=True, pool=pool, resolver=_Fixed(address="127.0.0.1")
    )
    other = keep_alive.url.replace("127.0.0.1", "webhooks.example")
    await named.send(_call(other, 5))
    await named.send(_call(other, 6))
    assert keep_alive.connections == 2 and keep_alive.ids[-2:] == ["msg_pool_5", "msg_pool_6"]
    pool.close()


async def test_a_server_that_does_not_keep_connections_gets_one_per_request(one_shot: Counting) -> None:
    pool = ConnectionPool()
    for n in range(3):
        await _sender(pool).send(_call(one_shot.url, n))
    assert one_shot.connections == 3 and len(one_shot.ids) == 3
    pool.close()


async def test_an_idle_connection_the_server_closed_is_replaced_once(dropping: Counting) -> None:
    pool = ConnectionPool()
    sender = _sender(pool)
    for n in range(3):
        await sender.send(_call(dropping.url, n))
    # Each request after the first found its kept connection closed, and went on a new one.
    assert dropping.ids == ["msg_pool_0", "msg_pool_1", "msg_pool_2"]
    assert dropping.connections == 3
    pool.close()
