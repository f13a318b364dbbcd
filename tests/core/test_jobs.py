"""Jobs commit with the data that caused them, and a worker runs them."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.core.db import libpq_url
from forewarn.core.jobs import Runtime, build_app, enqueue


async def _count(session: AsyncSession, task: str) -> int:
    return int(
        (
            await session.execute(
                text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t"), {"t": task}
            )
        ).scalar_one()
    )


async def test_enqueue_is_part_of_the_callers_transaction(runtime: Runtime) -> None:
    task = "accounts:purge_expired_sessions"
    async with runtime.db.sessions() as session:
        before = await _count(session, task)
        await enqueue(session, task, timestamp=0)
        assert await _count(session, task) == before + 1
        await session.rollback()
    async with runtime.db.sessions() as session:
        assert await _count(session, task) == before  # rolled back with the caller


async def test_worker_runs_a_committed_job(runtime: Runtime) -> None:
    task = "accounts:purge_expired_sessions"
    async with runtime.db.transaction() as session:
        job_id = await enqueue(session, task, queue="test-purge", timestamp=0)
    app = build_app(libpq_url(runtime.db.url))
    async with app.open_async():
        await asyncio.wait_for(
            app.run_worker_async(
                queues=["test-purge"],
                wait=False,
                install_signal_handlers=False,
                additional_context={"runtime": runtime},
            ),
            timeout=30,
        )
    async with runtime.db.transaction() as session:
        status = (
            await session.execute(text("SELECT status FROM procrastinate_jobs WHERE id = :i"), {"i": job_id})
        ).scalar_one()
        await session.execute(text("DELETE FROM procrastinate_jobs WHERE id = :i"), {"i": job_id})
    assert status == "succeeded"


def test_every_domain_blueprint_registers() -> None:
    app = build_app("postgresql://unused")
    assert "accounts:purge_expired_sessions" in {t.name for t in app.tasks.values()}
