"""Accounts housekeeping jobs."""

from __future__ import annotations

import procrastinate

from forewarn.accounts import service

blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="17 * * * *")
@blueprint.task(name="purge_expired_sessions", pass_context=True, queueing_lock="purge_sessions")
async def purge_expired_sessions(context: procrastinate.JobContext, timestamp: int) -> int:
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        return await service.purge_expired_sessions(session)
