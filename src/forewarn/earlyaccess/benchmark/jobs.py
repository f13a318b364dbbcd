"""Benchmark jobs: run a determination in a worker.

``benchmark:run_determination`` is enqueued in the transaction that records the request. It is
idempotent (a completed or refused determination is left alone) and retried: a retry resumes the
same sealed sample sequence from the stored outcomes (see ``runner``), and the verdict is written in
one transaction with its attestation, so a dead worker never leaves a half verdict. Each run is a
subprocess of its own, so a worker with concurrency N runs N determinations at once.

A worker killed outright (SIGKILL, a lost machine) leaves its job in procrastinate's ``doing`` state,
which procrastinate 3 never retries by itself; its runner subprocess exits as soon as it sees its
parent gone. ``benchmark:retry_stalled`` (periodic, every 30 s, queue ``maintenance``) puts the
determination jobs of workers whose heartbeat stopped back in the queue; the retry records
"attempt N: resumes the same sealed sequence" and continues from the sealed progress journal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import procrastinate

from forewarn.earlyaccess.benchmark import runner, service
from forewarn.earlyaccess.benchmark.schemas import DeterminationOut

blueprint = procrastinate.Blueprint()

MAX_ATTEMPTS = 3
#: A worker silent this long is dead: procrastinate workers send a heartbeat every 10 s.
STALLED_AFTER_SECONDS = 30.0
MAINTENANCE_QUEUE = "maintenance"


async def run_now(
    runtime: Any,
    determination_id: uuid.UUID,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    final: bool = True,
) -> DeterminationOut | None:
    """Run one determination to its verdict (the job's body; the CLI calls it with a progress bar).

    Returns None when there was nothing to do (already completed or refused).
    """
    settings = service.run_settings(runtime.settings)
    async with runtime.db.transaction() as session:
        begun = await service.begin_run(
            session, determination_id=determination_id, keys=runtime.keys, settings=settings
        )
    if begun is None:
        return None
    spec, attempt = begun
    try:
        result = await runner.run(spec, on_progress=on_progress, attempt=str(attempt))
    except runner.RunFailed as failure:
        async with runtime.db.transaction() as session:
            await service.note_run_failure(
                session,
                determination_id=determination_id,
                final=final,
                incomplete=isinstance(failure, runner.RunIncomplete),
            )
        raise
    async with runtime.db.transaction() as session:
        return await service.finish_run(
            session, determination_id=determination_id, result=result, keys=runtime.keys
        )


@blueprint.task(
    name="run_determination",
    pass_context=True,
    retry=procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, wait=10),
)
async def run_determination(context: procrastinate.JobContext, determination_id: str) -> str:
    """Run a determination; returns its status (never the verdict: job results may be logged)."""
    runtime = context.additional_context["runtime"]
    attempts = getattr(context.job, "attempts", 0) or 0
    out = await run_now(runtime, uuid.UUID(determination_id), final=attempts + 1 >= MAX_ATTEMPTS)
    return "nothing to do" if out is None else out.status.value


async def retry_stalled_runs(manager: Any, *, seconds_since_heartbeat: float = STALLED_AFTER_SECONDS) -> int:
    """Put the determination jobs of dead workers back in the queue; returns how many.

    Safe: a determination is idempotent (a completed one is left alone) and resumes its sealed
    sequence; the dead worker's runner subprocess has exited with its parent.
    """
    retried = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat):
        if job.task_name == service.RUN_TASK:
            await manager.retry_job(job)
            retried += 1
    return retried


@blueprint.periodic(cron="* * * * * */30")
@blueprint.task(
    name="retry_stalled",
    queue=MAINTENANCE_QUEUE,
    queueing_lock="benchmark:retry_stalled",
    pass_context=True,
)
async def retry_stalled(context: procrastinate.JobContext, timestamp: int) -> int:
    """Retry the determination runs of dead workers (see the module docstring)."""
    return await retry_stalled_runs(context.app.job_manager)
