"""Fixtures of the transparency log tests: a signer, a small log, an isolated database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import scratch_database_async

from forewarn.core.db import Database
from forewarn.core.jobs import Runtime
from forewarn.core.keys import DataKey, Keys, SigningKey
from forewarn.core.settings import Settings
from forewarn.ledger import service
from forewarn.ledger.schemas import EntryIn, SubjectRef

ORIGIN = "forewarn.test/ledger"


@pytest.fixture
def signer(runtime: Runtime) -> service.LogSigner:
    return service.LogSigner(ORIGIN, runtime.keys.signing.private)


def event(i: int, *, type_: str = "test.event", org: uuid.UUID | None = None) -> EntryIn:
    return EntryIn(
        type=type_,
        actor_organisation_id=org,
        subjects=[SubjectRef(type="thing", id=f"thing-{i}")],
        reason=f"event number {i}",
    )


MakeLog = Callable[..., Awaitable[list[int]]]


@pytest.fixture
def make_log(session: AsyncSession, signer: service.LogSigner) -> MakeLog:
    """Append ``batches`` of entries, signing a checkpoint after each batch; return the sizes."""

    async def make(*batches: int) -> list[int]:
        sizes = []
        for n in batches:
            start = await service._tree_size(session)
            await service.append_many(session, [event(start + i) for i in range(n)])
            sizes.append((await service.issue_checkpoint(session, signer=signer)).size)
        return sizes

    return make


async def tamper(session: AsyncSession, sql: str, **params: Any) -> None:
    """Change the log behind the service's back, as a rogue operator with superuser rights could."""
    await session.execute(text("SET LOCAL session_replication_role = replica"))  # triggers off
    await session.execute(text(sql), params)
    await session.execute(text("SET LOCAL session_replication_role = DEFAULT"))


@pytest.fixture(scope="module")
async def isolated(database_url: str, settings: Settings) -> AsyncIterator[Runtime]:
    """A database of its own, for tests that commit (concurrency, crashes, the worker)."""
    async with scratch_database_async(database_url, "ledger") as url:
        keys = Keys(signing=SigningKey.generate(), data=DataKey(os.urandom(32)))
        runtime = Runtime(settings=settings, db=Database(url, pool_size=12), keys=keys)
        try:
            yield runtime
        finally:
            await runtime.db.dispose()
