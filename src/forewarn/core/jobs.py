"""Jobs on procrastinate, in the same PostgreSQL database as the data.

Invariants:
- :func:`enqueue` inserts the job through the caller's SQLAlchemy session, so the job commits or rolls
  back together with the data that caused it: nothing is lost and no job runs for data that never
  committed.
- Jobs carry ids, not objects, and are idempotent: running one twice does no harm.
- Domains declare their tasks on a procrastinate ``Blueprint`` in their ``jobs.py``; the entry point
  builds the :class:`procrastinate.App` and adds every blueprint listed in :data:`JOB_MODULES`. A lower
  domain hands work up by enqueueing a task *by name*, never by importing the higher domain.
"""

from __future__ import annotations

import functools
import importlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    import procrastinate

    from forewarn.core.db import Database
    from forewarn.core.keys import Keys
    from forewarn.core.settings import Settings

#: Modules holding a ``blueprint`` of tasks, with the namespace their tasks are named under.
JOB_MODULES: dict[str, str] = {
    "accounts": "forewarn.accounts.jobs",
    "ledger": "forewarn.ledger.jobs",
    "advisories": "forewarn.clearinghouse.advisories.jobs",
    "benchmark": "forewarn.earlyaccess.benchmark.jobs",
    "gateway": "forewarn.earlyaccess.gateway.jobs",
    "review": "forewarn.earlyaccess.review.jobs",
    "assessments": "forewarn.earlyaccess.review.assessments.jobs",
    "partners": "forewarn.earlyaccess.partners.jobs",
    "matching": "forewarn.clearinghouse.matching.jobs",
    "distribution": "forewarn.clearinghouse.distribution.jobs",
    "feed": "forewarn.clearinghouse.feed.jobs",
}


@dataclass
class Runtime:
    """What a running job may use: passed to tasks as procrastinate's additional context."""

    settings: Settings
    db: Database
    keys: Keys


async def enqueue(
    session: AsyncSession,
    task_name: str,
    *,
    queue: str = "default",
    lock: str | None = None,
    queueing_lock: str | None = None,
    scheduled_at: datetime | None = None,
    priority: int = 0,
    **args: Any,
) -> int:
    """Defer ``task_name`` with ``args`` inside the caller's transaction; return the job id."""
    row = await session.execute(
        text(
            "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock, :qlock,"
            " CAST(:args AS jsonb), :at)::procrastinate_job_to_defer_v1])"
        ),
        {
            "queue": queue,
            "task": task_name,
            "priority": priority,
            "lock": lock,
            "qlock": queueing_lock,
            "args": json.dumps(args, default=str),
            "at": scheduled_at,
        },
    )
    ids: list[int] = row.scalar_one()
    return ids[0]


@functools.cache
def _task_registry() -> procrastinate.App:
    # Blueprints rename their tasks when added to an app, so they are added once per process; every
    # app handed out is this one with a connector of its own.
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector())
    for namespace, module_name in JOB_MODULES.items():
        module = importlib.import_module(module_name)
        app.add_tasks_from(module.blueprint, namespace=namespace)
    return app


def build_app(conninfo: str) -> procrastinate.App:
    """The procrastinate app with every domain's tasks, connected to ``conninfo`` (libpq URL).

    The connector is swapped on the one registry app, not on a copy (``with_connector``,
    deprecated): tasks link back to the app they were added to, and the worker's periodic
    deferrer defers through that app, so a copy left it deferring on a connector never opened
    and the worker stopped at start.
    """
    import procrastinate

    app = _task_registry()
    connector = procrastinate.PsycopgConnector(conninfo=conninfo)
    app.connector = connector
    app.job_manager.connector = connector
    return app


def schema_sql() -> str:
    """procrastinate's schema, applied by forewarn's first migration."""
    from procrastinate.schema import SchemaManager

    return str(SchemaManager.get_schema())


async def run_worker(app: procrastinate.App, runtime: Runtime, *, concurrency: int = 2) -> None:
    """Run a worker until cancelled (in-process under ``serve``, standalone under ``worker``)."""
    async with app.open_async():
        await app.run_worker_async(
            concurrency=concurrency,
            install_signal_handlers=False,
            additional_context={"runtime": runtime},
        )
