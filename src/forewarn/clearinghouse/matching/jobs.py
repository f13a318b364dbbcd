"""Matching jobs: ``matching:match_advisory`` finds the components a published advisory affects;
``matching:snapshot_exposure`` (periodic, hourly) writes today's exposure snapshot for the charts.

Enqueued by name, in the publishing transaction, by the advisories side when it publishes or revises
an advisory (a lower domain hands work up by a job, DESIGN §3). Idempotent: a run records each match
once and keeps operators' statuses, so running it twice does no harm.
"""

from __future__ import annotations

import procrastinate

from forewarn.clearinghouse.matching import service
from forewarn.core.jobs import enqueue

blueprint = procrastinate.Blueprint()


@blueprint.task(name="match_advisory", pass_context=True)
async def match_advisory(context: procrastinate.JobContext, advisory_id: str) -> int:
    """Record the matches of one published advisory; returns how many are new or reopened."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        if alerted := await service.match_advisory(session, advisory_id=advisory_id):
            # New or re-alerted matches are notified (distribution, by task name, same transaction).
            await enqueue(session, "distribution:fan_out", advisory_id=advisory_id)
        return alerted


@blueprint.periodic(cron="17 * * * *")
@blueprint.task(name="snapshot_exposure", queueing_lock="matching:snapshot_exposure", pass_context=True)
async def snapshot_exposure(context: procrastinate.JobContext, timestamp: int) -> int:
    """Today's open matches per advisory and sector (rewritten every hour; the last run of a day stays)."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        return await service.snapshot_exposure(session)
