"""Committed appends on separate connections: one sequencer, no fork, crashes leave no trace.

These tests commit, so they run on a database of their own (the ``isolated`` fixture), which is
dropped at the end of the module.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from tests.ledger.conftest import event

from forewarn.core.db import libpq_url
from forewarn.core.jobs import Runtime, build_app
from forewarn.ledger import audit, merkle, note, service


class Crash(Exception):
    """An appender that fails after appending, before its transaction commits."""


async def tree(runtime: Runtime) -> tuple[int, list[bytes]]:
    async with runtime.db.transaction() as session:
        rows = (
            await session.execute(text('SELECT "index", data FROM ledger_entries ORDER BY "index"'))
        ).all()
    assert [r[0] for r in rows] == list(range(len(rows))), "indices must be 0..n-1 without gaps"
    return len(rows), [merkle.leaf_hash(bytes(r[1])) for r in rows]


async def verify_all(runtime: Runtime) -> audit.Report:
    async with runtime.db.transaction() as session:
        signer = await service.log_signer(session, runtime)
        return await audit.verify(audit.ServiceSource(session, signer), key=signer.verifier)


async def test_concurrent_appenders_never_fork_the_tree(isolated: Runtime) -> None:
    rng = random.Random(7)
    start, _ = await tree(isolated)
    committed = 0

    async def appender(worker: int) -> None:
        nonlocal committed
        for round_ in range(6):
            batch = rng.randint(1, 4)
            crash = rng.random() < 0.25
            try:
                async with isolated.db.transaction() as session:
                    await service.append_many(
                        session, [event(worker * 100 + round_ * 10 + i) for i in range(batch)]
                    )
                    await asyncio.sleep(rng.random() / 200)  # hold the lock while others queue up
                    if crash:
                        raise Crash
            except Crash:
                continue
            committed += batch

    async def checkpointer() -> None:
        for _ in range(8):
            async with isolated.db.transaction() as session:
                await service.issue_checkpoint(session, signer=await service.log_signer(session, isolated))
            await asyncio.sleep(0.01)

    await asyncio.gather(*(appender(w) for w in range(8)), checkpointer(), checkpointer())
    async with isolated.db.transaction() as session:
        await service.issue_checkpoint(session, signer=await service.log_signer(session, isolated))

    size, leaves = await tree(isolated)
    assert size == start + committed
    async with isolated.db.transaction() as session:
        assert await service.root_at(session, size) == merkle.root(leaves)
        checkpoints = await service.list_checkpoints(session, limit=1000)
        nodes = await session.scalar(text("SELECT count(*) FROM ledger_nodes WHERE level = 0"))
    assert nodes == size
    # Every checkpoint signed a prefix of the final tree: none covered a rolled-back entry.
    for c in checkpoints:
        assert c.root_hash == service.b64(merkle.root(leaves[: c.size]))
    report = await verify_all(isolated)
    assert report.size == size and report.checkpoints == len(checkpoints)


async def test_a_crash_mid_append_leaves_the_log_consistent(isolated: Runtime) -> None:
    before, _ = await tree(isolated)
    # Connection A appends a batch and dies before committing.
    doomed = await isolated.db.engine.connect()
    victim = await doomed.begin()
    from sqlalchemy.ext.asyncio import AsyncSession

    crashing = AsyncSession(bind=doomed, expire_on_commit=False)
    await service.append_many(crashing, [event(i) for i in range(5)])
    pid = (await crashing.execute(text("SELECT pg_backend_pid()"))).scalar_one()

    # Meanwhile B signs a checkpoint: it sees only what is committed.
    async with isolated.db.transaction() as session:
        signer = await service.log_signer(session, isolated)
        during = await service.issue_checkpoint(session, signer=signer)
    assert during.size == before

    # A's server process is killed mid-transaction (a crash), and its connection is gone.
    async with isolated.db.transaction() as session:
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises((DBAPIError, InterfaceError, OperationalError)):
        await victim.commit()
    try:
        await crashing.close()
        await doomed.close()
    except (DBAPIError, InterfaceError, OperationalError):
        pass

    # C appends afterwards: it takes the indices A never committed, and the log verifies.
    async with isolated.db.transaction() as session:
        await service.append_many(session, [event(i) for i in range(3)])
        after = await service.issue_checkpoint(session, signer=signer)
    assert after.size == before + 3
    size, leaves = await tree(isolated)
    assert size == before + 3
    assert after.root_hash == service.b64(merkle.root(leaves))
    await verify_all(isolated)


async def test_the_checkpoint_job_batches_appends_and_signs_after_commit(isolated: Runtime) -> None:
    async with isolated.db.transaction() as session:
        await session.execute(text("DELETE FROM procrastinate_jobs WHERE task_name = 'ledger:checkpoint'"))
    for i in range(3):
        async with isolated.db.transaction() as session:
            await service.append_many(session, [event(i)])
    async with isolated.db.transaction() as session:
        waiting = (
            await session.execute(
                text(
                    "SELECT count(*) FROM procrastinate_jobs"
                    " WHERE task_name = 'ledger:checkpoint' AND status = 'todo'"
                )
            )
        ).scalar_one()
    assert waiting == 1  # three appends, one queued job (queueing lock)
    size, leaves = await tree(isolated)

    app = build_app(libpq_url(isolated.db.url))
    async with app.open_async():
        await asyncio.wait_for(
            app.run_worker_async(
                queues=["default"],
                wait=False,
                install_signal_handlers=False,
                additional_context={"runtime": isolated},
            ),
            timeout=30,
        )
    async with isolated.db.transaction() as session:
        latest = await service.latest_checkpoint(session)
        status = (
            await session.execute(
                text("SELECT status FROM procrastinate_jobs WHERE task_name = 'ledger:checkpoint'")
            )
        ).scalar_one()
        signer = await service.log_signer(session, isolated)
    assert status == "succeeded"
    assert latest.size == size and latest.root_hash == service.b64(merkle.root(leaves))
    note.open_checkpoint(latest.note, [signer.verifier], origin=signer.origin)


def test_every_ledger_task_registers() -> None:
    app = build_app("postgresql://unused")
    assert "ledger:checkpoint" in {t.name for t in app.tasks.values()}
