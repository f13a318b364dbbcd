"""Transparency log jobs: signing a checkpoint after appends commit.

``ledger:checkpoint`` is queued by every append transaction under the queueing lock of the
same name, so at most one waits at a time and one run covers every append committed before
it (batching). It is idempotent: with nothing new it signs nothing.
"""

from __future__ import annotations

import procrastinate

from forewarn.ledger import service

blueprint = procrastinate.Blueprint()


@blueprint.task(name="checkpoint", pass_context=True)
async def checkpoint(context: procrastinate.JobContext) -> int:
    """Sign the committed tree head; returns the size it covers."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        issued = await service.issue_checkpoint(session, signer=await service.log_signer(session, runtime))
    return issued.size
