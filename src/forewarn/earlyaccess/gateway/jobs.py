"""Gateway housekeeping: settle calls left in flight by a gateway process that died mid-call.

``gateway:release_stale_calls`` (periodic, every five minutes; one waiting at a time) settles every
call still in flight after twice the upstream timeout (status 500, ``gateway_lost``) and gives its
token reservation back to the key. Idempotent: a settled call is never settled again.
"""

from __future__ import annotations

from datetime import timedelta

import procrastinate

from forewarn.earlyaccess.gateway import service

blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="*/5 * * * *")
@blueprint.task(name="release_stale_calls", pass_context=True, queueing_lock="gateway_release_stale_calls")
async def release_stale_calls(context: procrastinate.JobContext, timestamp: int) -> int:
    runtime = context.additional_context["runtime"]
    # A live call is bounded by the upstream timeout (per chunk for a stream): twice it, plus a margin.
    older_than = timedelta(seconds=2 * runtime.settings.gateway_upstream_timeout_seconds + 60)
    async with runtime.db.transaction() as session:
        return await service.release_stale_calls(session, older_than=older_than)
