"""Fixtures of the feed tests: published advisories (as an analyst publishes them), a vendor on the
case, an operator, and the app served over real HTTP on 127.0.0.1 (in the test's event loop, so it
shares the test's rolled-back transaction)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.clearinghouse.matching.conftest import osv
from tests.conftest import OrgFactory, free_port

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.advisories.schemas import Tlp
from forewarn.clearinghouse.feed import service, tuf_repo
from forewarn.core import clock
from forewarn.core.jobs import Runtime

#: Bins in the tests' feeds: small, so that a repository is made in milliseconds and an agent's
#: first refresh fetches a handful of bins; the layout code is the same for any N (test_bins.py).
TEST_BINS = 16


@pytest.fixture(autouse=True)
def small_bins(monkeypatch: pytest.MonkeyPatch, runtime: Runtime) -> int:
    monkeypatch.setattr(tuf_repo, "DEFAULT_BINS", TEST_BINS)
    monkeypatch.setattr(runtime.settings, "feed_hash_bins", TEST_BINS)
    return TEST_BINS


@dataclass
class People:
    analyst: Principal
    reporter: Principal
    vendor: Principal
    other_vendor: Principal
    operator: Principal


@pytest.fixture
async def people(
    session: AsyncSession, make_org: OrgFactory, make_person: Callable[..., Awaitable[Principal]]
) -> People:
    treasury = await make_org(kind=OrgKind.AGENCY, code=f"TR{uuid.uuid4().hex[:6].upper()}")
    return People(
        analyst=await make_person(treasury, [Role.CLEARINGHOUSE_ANALYST]),
        reporter=await make_person(await make_org(kind=OrgKind.LAB), [Role.SAFETY_LEAD]),
        vendor=await make_person(await make_org(kind=OrgKind.VENDOR), [Role.MEMBER]),
        other_vendor=await make_person(await make_org(kind=OrgKind.VENDOR), [Role.MEMBER]),
        operator=await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.OPERATOR_CONTACT]),
    )


async def publish(session: AsyncSession, people: People, raw: bytes) -> tuple[uuid.UUID, str]:
    """Report, validate, add the vendor, publish; returns (case id, the published advisory id)."""
    (report,) = await advisories.submit_document(
        session, raw=raw, filename="a.json", tlp=Tlp.AMBER, actor=people.reporter
    )
    case = await advisories.validate(session, report_id=report.id, actor=people.analyst)
    assert people.vendor.organisation_id is not None
    await advisories.add_vendor(
        session, case_id=case.id, organisation_id=people.vendor.organisation_id, actor=people.analyst
    )
    published = await advisories.publish(session, case_id=case.id, actor=people.analyst)
    return case.id, published.osv_ids[0]


async def published_in_feed(
    session: AsyncSession, runtime: Runtime, people: People, name: str = "tarlib", **kwargs: Any
) -> str:
    """An advisory published and put in the feed (as the ``feed:publish_advisory`` job does)."""
    _, advisory_id = await publish(session, people, osv(name, **kwargs))
    await service.publish_advisory(
        session, advisory_id=advisory_id, key=runtime.keys.data, targets_url="http://feed.test/tuf/targets/"
    )
    return advisory_id


@contextlib.contextmanager
def frozen(at: Any) -> Iterator[clock.FrozenClock]:
    """Sign with the clock set to *at* (the TUF client checks expiry against the real time)."""
    frozen_clock = clock.FrozenClock(at)
    clock.set_clock(frozen_clock)
    try:
        yield frozen_clock
    finally:
        clock.set_clock(clock.SystemClock())


@dataclass
class Served:
    url: str

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/tuf/"

    @property
    def targets_url(self) -> str:
        return f"{self.url}/tuf/targets/"


@pytest.fixture
async def served(app: Any) -> AsyncIterator[Served]:
    """The app (with the test's session) served by uvicorn on a free port of 127.0.0.1."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield Served(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task
