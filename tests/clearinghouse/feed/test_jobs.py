"""Feed jobs: publishing an advisory enqueues ``feed:publish_advisory`` in the same transaction; the
job puts it in the feed (twice: no harm); an unpublished id changes nothing; the hourly refresh is
registered as a periodic task."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.clearinghouse.matching.conftest import osv

from forewarn.clearinghouse.feed import jobs, service
from forewarn.core.jobs import Runtime

from .conftest import People, publish


def _context(session: AsyncSession, runtime: Runtime) -> Any:
    @contextlib.asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        yield session

    return SimpleNamespace(
        additional_context={
            "runtime": SimpleNamespace(
                db=SimpleNamespace(transaction=transaction), keys=runtime.keys, settings=runtime.settings
            )
        }
    )


async def test_publication_enqueues_the_feed_job_which_is_idempotent(
    session: AsyncSession, runtime: Runtime, people: People
) -> None:
    _, advisory_id = await publish(session, people, osv("gzlib"))
    queued = (
        await session.execute(
            text("SELECT args FROM procrastinate_jobs WHERE task_name = 'feed:publish_advisory'")
        )
    ).scalars()
    assert {"advisory_id": advisory_id} in [a if isinstance(a, dict) else json.loads(a) for a in queued]
    context = _context(session, runtime)
    assert await jobs.publish_advisory(context, advisory_id=advisory_id) == 3
    assert await jobs.publish_advisory(context, advisory_id=advisory_id) == 0
    assert await jobs.publish_advisory(context, advisory_id="x_FW-1999-0001-1") == 0
    targets = await service.listed_targets(session)
    assert f"advisories/{advisory_id}/osv.json" in targets
    assert targets[f"advisories/{advisory_id}/osv.json"]["custom"]["advisory"] == advisory_id


async def test_refresh_job_and_its_schedule(session: AsyncSession, runtime: Runtime) -> None:
    from forewarn.core.jobs import _task_registry

    context = _context(session, runtime)
    assert await jobs.refresh(context, timestamp=0) == ["root", "targets", "snapshot", "timestamp"]
    assert await jobs.refresh(context, timestamp=0) == ["timestamp"]
    registry = _task_registry()
    assert {"feed:publish_advisory", "feed:refresh"} <= set(registry.tasks)
    periodic = [
        p for p in registry.periodic_registry.periodic_tasks.values() if p.task.name == "feed:refresh"
    ]
    assert [p.cron for p in periodic] == ["13 * * * *"]  # hourly
