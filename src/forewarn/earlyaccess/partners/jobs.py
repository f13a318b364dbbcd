"""Partner-panel jobs: settle a round at its decision deadline.

``partners:settle_round`` is queued when a round opens, scheduled at its deadline. It is idempotent:
a round already decided (every seat voted, or the rules settled it early) is left as it is.
"""

from __future__ import annotations

import uuid

import procrastinate

from forewarn.earlyaccess.partners import service

blueprint = procrastinate.Blueprint()


@blueprint.task(name="settle_round", pass_context=True)
async def settle_round(context: procrastinate.JobContext, round_id: str) -> str | None:
    """Record the computed outcome of a round whose deadline has passed."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        return await service.settle_round(session, round_id=uuid.UUID(round_id))
