"""Distribution jobs.

- ``distribution:fan_out`` (enqueued by name by matching, in the transaction that recorded new or
  re-alerted matches): one notice per affected subscriber organisation; idempotent by notice key.
  It writes the first page of ``FAN_OUT_PAGE`` organisations and hands each other page to a
  ``distribution:fan_out_page`` job, in one transaction.
- ``distribution:fan_out_page``: one page's notices, deliveries and ``deliver_batch`` jobs, in one
  transaction; idempotent by notice key (a page run again writes nothing).
- ``distribution:deliver_batch`` (enqueued by the fan-out): the first attempt at up to
  ``service.DELIVERY_BATCH_SIZE`` deliveries, sent concurrently and recorded in one transaction; each
  delivery that fails gets its own ``distribution:deliver`` job, scheduled after its backoff.
- ``distribution:deliver``: one attempt at one delivery; the attempt is committed, then a failure is
  raised so procrastinate retries with exponential backoff (settings ``notice_retry_*``), up to
  ``notice_delivery_max_attempts`` attempts of the delivery in all. A delivered delivery is never
  sent again.
- ``distribution:send_digests`` (periodic, hourly): gathers waiting notices into digests.
- ``distribution:retry_stalled`` (periodic, every 15 s, queue ``maintenance``): puts the matching and
  distribution jobs of a dead worker back in the queue. A worker killed with SIGKILL (or a lost
  machine) leaves its jobs in procrastinate's ``doing`` state forever: procrastinate 3 does not
  retry them by itself, it only offers ``JobManager.get_stalled_jobs`` (jobs of workers whose
  heartbeat is older than ``seconds_since_heartbeat``, or whose worker row was pruned) and
  ``JobManager.retry_job``. Every task retried here is idempotent (notice keys, delivery rows,
  webhook ids), so running one again after a crash sends nothing twice that a receiver cannot
  de-duplicate.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import procrastinate
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from forewarn.clearinghouse.distribution import service
from forewarn.clearinghouse.distribution.delivery import DeliveryFailed, mailer_from, webhook_sender_from
from forewarn.core.jobs import enqueue

if TYPE_CHECKING:
    from procrastinate.jobs import Job

blueprint = procrastinate.Blueprint()

#: Tasks whose stalled runs :func:`retry_stalled` puts back (this wing's; each is idempotent).
STALLED_TASK_PREFIXES = ("distribution:", "matching:")
#: A worker silent for this long is dead. procrastinate workers send a heartbeat every 10 s and
#: prune peers silent for 30 s (``update_heartbeat_interval``, ``stalled_worker_timeout``).
STALLED_AFTER_SECONDS = 30.0
#: Webhooks a batch job has in flight at once (a worker runs ``concurrency`` jobs at once).
BATCH_PARALLEL = 16
#: Organisations per page of a fan-out: each page's notices are committed with their deliveries and
#: delivery jobs, by its own job, so that pages are written by every worker at once and delivery
#: starts with the first page.
FAN_OUT_PAGE = 1000
#: Pages go before deliveries (whose jobs have priority ``100 - notice priority``, at most 100).
FAN_OUT_PRIORITY = 110
#: The queue of this housekeeping job, so that its own finished runs can be cleaned up alone.
MAINTENANCE_QUEUE = "maintenance"


class _Backoff(BaseRetryStrategy):
    """Exponential backoff read from settings when a job fails (not at import time).

    Counts the delivery's attempts made before this job (``prior_attempts``: the batch's first
    attempt), so a delivery has ``notice_delivery_max_attempts`` in all, whichever job made them."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        from forewarn.core.settings import get_settings

        if not isinstance(exception, DeliveryFailed):
            return None
        settings = get_settings()
        prior = int((getattr(job, "task_kwargs", None) or {}).get("prior_attempts", 0))
        wait = service.retry_delay(
            job.attempts + 1 + prior,
            max_attempts=settings.notice_delivery_max_attempts,
            base_seconds=settings.notice_retry_base_seconds,
            max_seconds=settings.notice_retry_max_seconds,
        )
        return None if wait is None else RetryDecision(retry_in={"seconds": wait})


@blueprint.task(name="fan_out", pass_context=True)
async def fan_out(context: procrastinate.JobContext, advisory_id: str) -> int:
    """Create the notices of one advisory's new or re-alerted matches; returns how many this job
    created itself (the first page; the other pages are ``distribution:fan_out_page`` jobs)."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        orgs = await service.affected_organisations(session, advisory_id=advisory_id)
        pages = [orgs[i : i + FAN_OUT_PAGE] for i in range(0, len(orgs), FAN_OUT_PAGE)]
        # The other pages, deferred in the transaction that writes the first one: either the whole
        # fan-out is handed on, or nothing is (and this job runs again).
        for page in pages[1:]:
            await enqueue(
                session,
                "distribution:fan_out_page",
                priority=FAN_OUT_PRIORITY,
                advisory_id=advisory_id,
                organisation_ids=[str(o) for o in page],
            )
        if not pages:
            return 0
        plan = await service.plan_fan_out(
            session,
            advisory_id=advisory_id,
            base_url=runtime.settings.public_base_url,
            organisations=pages[0],
        )
        return len(await service.write_notices(session, plan=plan))


@blueprint.task(name="fan_out_page", pass_context=True)
async def fan_out_page(
    context: procrastinate.JobContext, advisory_id: str, organisation_ids: list[str]
) -> int:
    """The notices of one page of a fan-out (up to ``FAN_OUT_PAGE`` organisations), committed with
    their deliveries and delivery jobs; returns how many were created (none when run again)."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        plan = await service.plan_fan_out(
            session,
            advisory_id=advisory_id,
            base_url=runtime.settings.public_base_url,
            organisations=[uuid.UUID(o) for o in organisation_ids],
        )
        return len(await service.write_notices(session, plan=plan))


@blueprint.task(
    name="deliver_batch",
    pass_context=True,
    # An unexpected error (the database gone, a bug) fails the whole batch before anything is
    # recorded: run it again, later. It only sends what was never attempted, with the same ids.
    retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=4),
)
async def deliver_batch(context: procrastinate.JobContext, delivery_ids: list[str]) -> int:
    """The first attempt at each delivery of a fan-out batch; returns how many were delivered.

    Failures do not fail this job: each failed delivery has its own retry job, deferred in the
    transaction that records the attempt."""
    runtime = context.additional_context["runtime"]
    settings = runtime.settings
    async with runtime.db.transaction() as session:
        outcome = await service.deliver_batch(
            session,
            delivery_ids=[uuid.UUID(i) for i in delivery_ids],
            mailer=mailer_from(settings),
            webhooks=webhook_sender_from(settings),
            key=runtime.keys.data,
            max_attempts=settings.notice_delivery_max_attempts,
            retry_base_seconds=settings.notice_retry_base_seconds,
            retry_max_seconds=settings.notice_retry_max_seconds,
            parallel=BATCH_PARALLEL,
        )
    return outcome.delivered


@blueprint.task(name="deliver", pass_context=True, retry=_Backoff())
async def deliver(context: procrastinate.JobContext, delivery_id: str, prior_attempts: int = 0) -> bool:
    """One attempt at one delivery (a digest's, or a retry after a batch's first attempt failed)."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        outcome = await service.deliver(
            session,
            delivery_id=uuid.UUID(delivery_id),
            mailer=mailer_from(runtime.settings),
            webhooks=webhook_sender_from(runtime.settings),
            key=runtime.keys.data,
        )
    if outcome.error is not None:
        # Raised after the attempt is committed, so the record survives and the job is retried.
        raise DeliveryFailed(outcome.error)
    return outcome.delivered


@blueprint.periodic(cron="7 * * * *")
@blueprint.task(name="send_digests", queueing_lock="distribution:send_digests", pass_context=True)
async def send_digests(context: procrastinate.JobContext, timestamp: int) -> int:
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        return len(await service.send_digests(session))


@blueprint.periodic(cron="* * * * * */15")
@blueprint.task(
    name="retry_stalled",
    queue=MAINTENANCE_QUEUE,
    queueing_lock="distribution:retry_stalled",
    pass_context=True,
)
async def retry_stalled(context: procrastinate.JobContext, timestamp: int) -> int:
    """Retry the stalled matching and distribution jobs of dead workers; returns how many."""
    manager = context.app.job_manager
    retried = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS):
        if job.task_name.startswith(STALLED_TASK_PREFIXES):
            await manager.retry_job(job)
            retried += 1
    # This job runs four times a minute: keep only the last hour of its own finished runs.
    await manager.delete_old_jobs(nb_hours=1, queue=MAINTENANCE_QUEUE)
    return retried
