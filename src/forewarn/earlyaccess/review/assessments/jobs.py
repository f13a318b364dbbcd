"""Assessment jobs: the final report of a window is issued once it has closed.

``assessments:issue_final_reports`` (periodic, every five minutes; one waiting at a time by its
queueing lock) issues the final report of every closed window that has none yet: a row with the
report's hash and an ``assessments.report_issued`` ledger entry. It is idempotent: a window's final
report is issued once, whatever closed the window (time, release, withdrawal) and however often the
job runs.
"""

from __future__ import annotations

from typing import Any

import procrastinate

from forewarn.earlyaccess.review.assessments import service

blueprint = procrastinate.Blueprint()


async def issue_now(runtime: Any) -> int:
    async with runtime.db.transaction() as session:
        return await service.issue_final_reports(session)


@blueprint.periodic(cron="*/5 * * * *")
@blueprint.task(
    name="issue_final_reports", queueing_lock="assessments:issue_final_reports", pass_context=True
)
async def issue_final_reports(context: procrastinate.JobContext, timestamp: int) -> int:
    return await issue_now(context.additional_context["runtime"])
