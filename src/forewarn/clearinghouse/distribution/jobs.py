"""Distribution jobs.

- ``distribution:fan_out`` (enqueued by name by matching, in the transaction that recorded new or
  re-alerted matches): one notice per affected subscriber organisation; idempotent by notice key.
- ``distribution:deliver``: one attempt at one delivery; the attempt is committed, then a failure is
  raised so procrastinate retries with exponential backoff (settings ``notice_retry_*``), up to
  ``notice_delivery_max_attempts``. A delivered delivery is never sent again.
- ``distribution:send_digests`` (periodic, hourly): gathers waiting notices into digests.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import procrastinate
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from forewarn.clearinghouse.distribution import service
from forewarn.clearinghouse.distribution.delivery import DeliveryFailed, mailer_from, webhook_sender_from

if TYPE_CHECKING:
    from procrastinate.jobs import Job

blueprint = procrastinate.Blueprint()


class _Backoff(BaseRetryStrategy):
    """Exponential backoff read from settings when a job fails (not at import time)."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        from forewarn.core.settings import get_settings

        settings = get_settings()
        if (
            not isinstance(exception, DeliveryFailed)
            or job.attempts + 1 >= settings.notice_delivery_max_attempts
        ):
            return None
        wait = min(
            settings.notice_retry_base_seconds ** (job.attempts + 1), settings.notice_retry_max_seconds
        )
        return RetryDecision(retry_in={"seconds": wait})


@blueprint.task(name="fan_out", pass_context=True)
async def fan_out(context: procrastinate.JobContext, advisory_id: str) -> int:
    """Create the notices of one advisory's new or re-alerted matches; returns how many."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        created = await service.fan_out(
            session, advisory_id=advisory_id, base_url=runtime.settings.public_base_url
        )
    return len(created)


@blueprint.task(name="deliver", pass_context=True, retry=_Backoff())
async def deliver(context: procrastinate.JobContext, delivery_id: str) -> bool:
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
