"""Review programme jobs: windows close on time and notices go out.

- ``review:tick`` (periodic, every minute; one waiting at a time by its queueing lock) and
  ``review:due`` (enqueued by the transaction that starts a window's access, scheduled at exactly
  ``closes_at`` and 7 days and 1 day before it) both run :func:`service.run_due`: close every window
  whose time is up at its ``closes_at`` (revoking its keys through the gateway), record the 7-day and
  1-day notices that are due, and email pending notices once. Both are idempotent.
"""

from __future__ import annotations

from typing import Any

import procrastinate

from forewarn.core.clock import utcnow
from forewarn.core.mail import mailer_from
from forewarn.earlyaccess.review import service

blueprint = procrastinate.Blueprint()


async def run_due_now(runtime: Any) -> service.DueReport:
    """The body of both tasks, with the process clock (tests inject a frozen one)."""
    async with runtime.db.transaction() as session:
        return await service.run_due(session, now=utcnow(), mailer=mailer_from(runtime.settings))


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="tick", queueing_lock="review:tick", pass_context=True)
async def tick(context: procrastinate.JobContext, timestamp: int) -> int:
    report = await run_due_now(context.additional_context["runtime"])
    return len(report.closed)


@blueprint.task(name="due", pass_context=True)
async def due(context: procrastinate.JobContext, window_id: str) -> int:
    """Scheduled at a window's notice and close times (its id only says why it was queued)."""
    report = await run_due_now(context.additional_context["runtime"])
    return len(report.closed)
