"""Clearinghouse advisory jobs: notices to vendors and reporters.

``advisories:notify`` is enqueued in the transaction that adds a vendor to a case or publishes it;
it writes the notice record (email and webhook delivery come with distribution). Idempotent: a
notice exists once per case, organisation, kind and revision.
"""

from __future__ import annotations

import uuid

import procrastinate

from forewarn.clearinghouse.advisories import service

blueprint = procrastinate.Blueprint()


@blueprint.task(name="notify", pass_context=True)
async def notify(
    context: procrastinate.JobContext, case_id: str, organisation_id: str, kind: str, revision: int = 0
) -> bool:
    """Record one notice; returns whether it was new."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        return await service.record_notice(
            session,
            case_id=uuid.UUID(case_id),
            organisation_id=uuid.UUID(organisation_id),
            kind=kind,
            revision=revision,
            base_url=runtime.settings.public_base_url,
        )
