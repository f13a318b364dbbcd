"""Fixtures of the gateway tests: a fake upstream, and a database of their own whose writes commit.

The proxy runs each statement as its own transaction (that is what makes the limits hold across
concurrent calls), so the concurrency tests cannot live inside the rolled-back test transaction: they
use a separate database on the same embedded server, made fresh for this test session.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.conftest import free_port, scratch_database
from tests.earlyaccess.gateway.upstream import FakeUpstream

from forewarn.core.clock import FrozenClock, get_clock, set_clock
from forewarn.core.db import Database
from forewarn.core.jobs import Runtime
from forewarn.core.keys import DataKey, Keys, SigningKey
from forewarn.core.settings import Settings


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gateway_database_url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, "gateway") as url:
        yield url


@pytest.fixture(scope="session")
def gateway_keys() -> Keys:
    return Keys(signing=SigningKey.generate(), data=DataKey(os.urandom(32)))


def gateway_settings(settings: Settings, **overrides: Any) -> Settings:
    values = {"gateway_upstream_timeout_seconds": 1.0, "gateway_upstream_connect_timeout_seconds": 1.0}
    return settings.model_copy(update=values | overrides)


@pytest.fixture(scope="session")
async def committed(
    settings: Settings, gateway_database_url: str, gateway_keys: Keys
) -> AsyncIterator[Runtime]:
    """A runtime on the gateway tests' own database (writes commit)."""
    rt = Runtime(settings=gateway_settings(settings), db=Database(gateway_database_url), keys=gateway_keys)
    yield rt
    await rt.db.dispose()


@pytest.fixture
async def gw_app(committed: Runtime) -> AsyncIterator[Any]:
    from forewarn.earlyaccess.gateway.proxy import close_state
    from forewarn.web.app import create_app

    app = create_app(committed)
    yield app
    await close_state(app)


@pytest.fixture
async def gw_client(gw_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gw_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=30) as http:
        yield http


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    previous = get_clock()
    clock = FrozenClock()
    set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


class ThreadServer:
    """The forewarn app under uvicorn on a free port, in a thread with its own event loop."""

    def __init__(self, make_runtime: Callable[[], Runtime]) -> None:
        import uvicorn

        from forewarn.web.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runtime = make_runtime()
        config = uvicorn.Config(
            create_app(self.runtime), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="gateway-uvicorn", daemon=True)
        self.thread.start()
        import time

        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="session")
def live_gateway(settings: Settings, gateway_database_url: str, gateway_keys: Keys) -> Iterator[ThreadServer]:
    """The app on a real port (the openai client and Inspect connect to it), on the gateway database."""
    server = ThreadServer(
        lambda: Runtime(
            settings=gateway_settings(settings, gateway_upstream_timeout_seconds=120.0),
            db=Database(gateway_database_url),
            keys=gateway_keys,
        )
    )
    yield server
    server.stop()
