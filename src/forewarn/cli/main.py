"""The ``forewarn`` root command: serve, worker, db, and one group per domain."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from forewarn.cli.accounts import org_app, token_app, user_app
from forewarn.cli.advisories import advisories_app
from forewarn.cli.agent import agent_app
from forewarn.cli.assessments import assessments_app
from forewarn.cli.benchmark import attestation_app, benchmark_app
from forewarn.cli.common import err_console
from forewarn.cli.feed import feed_app
from forewarn.cli.grants import grants_app
from forewarn.cli.ledger import ledger_app
from forewarn.cli.partners import partners_app
from forewarn.cli.review import review_app
from forewarn.cli.scan import scan
from forewarn.cli.workforce import workforce_app

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

app = typer.Typer(
    name="forewarn",
    help="forewarn: pre-release review of frontier AI models and the AI-cybersecurity clearinghouse.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database: migrations and checks.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(ledger_app, name="ledger")
app.add_typer(advisories_app, name="advisories")
app.add_typer(feed_app, name="feed")
app.add_typer(agent_app, name="agent")
app.add_typer(benchmark_app, name="benchmark")
app.add_typer(assessments_app, name="assessments")
app.add_typer(review_app, name="review")
app.add_typer(attestation_app, name="attestation")
app.add_typer(grants_app, name="grants")
app.add_typer(partners_app, name="partners")
app.add_typer(workforce_app, name="workforce")
app.command("scan")(scan)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="FOREWARN_DATA_DIR", help="Where the embedded database and keys live."),
]


@app.callback()
def root(data_dir: DataDir = None) -> None:
    """Set process-wide options."""
    import os

    if data_dir is not None:
        os.environ["FOREWARN_DATA_DIR"] = str(data_dir)


def parse(model: type[M], **values: Any) -> M:
    """Validate CLI input with the same schema the API uses; errors name the field."""
    from forewarn.core.errors import validated

    return validated(model, values)


@app.command()
def serve(
    demo: Annotated[bool, typer.Option(help="Seed a small demo world to click through.")] = False,
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(envvar="FOREWARN_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="FOREWARN_PORT")] = 8000,
    worker: Annotated[bool, typer.Option(help="Run a job worker in this process.")] = True,
) -> None:
    """Start the web app, the JSON API and a job worker (embedded PostgreSQL unless configured)."""
    import asyncio

    import uvicorn

    from forewarn.cli.common import console, settings_with
    from forewarn.core import logs
    from forewarn.core.bootstrap import open_runtime
    from forewarn.web.app import create_app

    settings = settings_with(data_dir, host=host, port=port)
    logs.configure(settings.log_level, json_lines=settings.log_json)
    console.print(f"forewarn: data in [bold]{settings.data_dir}[/bold]")
    runtime = open_runtime(settings)

    async def prepare() -> tuple[tuple[str, str] | None, list[str]]:
        from forewarn.accounts import service

        try:
            async with runtime.db.transaction() as session:
                first = await service.create_first_admin(session)
                seeded: list[str] = []
                if demo:
                    from forewarn.cli.demo import seed

                    seeded = await seed(session, runtime)
                return first, seeded
        finally:
            await runtime.db.dispose()

    first, seeded = asyncio.run(prepare())
    if first:
        console.print(
            f"First administrator: [bold]{first[0]}[/bold]  one-time password: [bold]{first[1]}[/bold]"
            "  (shown once; you will be asked to change it)"
        )
    for line in seeded:
        console.print(line)
    from forewarn.core.db import Database

    runtime.db = Database(runtime.db.url)
    web = create_app(runtime, run_worker=worker and settings.worker)
    console.print(f"forewarn is at [bold]http://{host}:{port}/[/bold]  (Ctrl-C stops it)")
    uvicorn.run(web, host=host, port=port, log_config=None, access_log=False)


@app.command("worker")
def worker_cmd(
    data_dir: DataDir = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 2,
) -> None:
    """Run a standalone job worker against the same database (start more on other machines)."""
    import asyncio

    import uvloop

    from forewarn.cli.common import settings_with
    from forewarn.core import logs
    from forewarn.core.bootstrap import open_runtime
    from forewarn.core.db import libpq_url
    from forewarn.core.jobs import build_app, run_worker

    settings = settings_with(data_dir)
    logs.configure(settings.log_level, json_lines=settings.log_json)
    runtime = open_runtime(settings)
    jobs = build_app(libpq_url(runtime.db.url))
    # uvloop, as under ``serve`` (uvicorn): a notice fan-out is mostly socket and database I/O, which
    # uvloop's transports handle at a fraction of the CPU.
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run_worker(jobs, runtime, concurrency=concurrency))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (done by serve and worker too)."""
    from forewarn.cli.common import console, open_runtime

    open_runtime()
    console.print("database is at the latest migration")


@db_app.command("check")
def db_check() -> None:
    """Fail when the models and the migrations disagree."""
    from alembic import command

    from forewarn.cli.common import console, settings_with
    from forewarn.core.bootstrap import alembic_config, database_url

    command.check(alembic_config(database_url(settings_with())))
    console.print("models and migrations agree")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL (for psql): the embedded server's or the configured one."""
    from forewarn.cli.common import settings_with
    from forewarn.core.bootstrap import database_url
    from forewarn.core.db import libpq_url

    print(libpq_url(database_url(settings_with())))


def main() -> None:
    """Entry point: domain errors become one plain line and exit code 1, never a traceback."""
    from forewarn.core.errors import ForewarnError

    try:
        app()
    except ForewarnError as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(1)
    except Exception as exc:
        from alembic.util.exc import CommandError

        if isinstance(exc, CommandError):
            err_console.print(f"error: {exc}", highlight=False, markup=False)
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
