"""``forewarn workforce``: Tech Force pathways, postings and public metrics (``--json`` for scripts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forewarn.cli.common import emit, in_transaction
from forewarn.cli.grants import actor_for

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from forewarn.core.jobs import Runtime

workforce_app = typer.Typer(help="U.S. Tech Force cyber hiring pathways and postings.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@workforce_app.command("pathways")
def pathways(as_json: JsonFlag = False) -> None:
    """The published pathways, their skills and ways to qualify."""
    from forewarn.workforce.schemas import PATHWAYS

    rows: list[dict[str, Any]] = [
        {
            "key": p.key,
            "title": p.title,
            "skills": list(p.skills),
            "routes": [r.value for r in p.routes],
            "steps": list(p.steps),
        }
        for p in PATHWAYS.values()
    ]
    emit(rows, as_json=as_json, columns=["key", "title", "routes"])


@workforce_app.command("postings")
def postings(as_json: JsonFlag = False) -> None:
    """Every posting."""
    from forewarn.workforce import service

    async def run(session: AsyncSession, _: Runtime) -> object:
        return await service.list_postings(session)

    emit(
        in_transaction(run),
        as_json=as_json,
        columns=["id", "title", "agency_name", "pathway", "location", "closes_at", "open"],
    )


@workforce_app.command("post")
def post(
    file: Annotated[Path, typer.Argument(help="A JSON posting: pathway, title, location, clearance, ...")],
    actor_email: Annotated[str, typer.Option("--as", help="Email of the hiring officer.")],
    as_json: JsonFlag = False,
) -> None:
    """Open a posting from a JSON file."""
    from forewarn.core.errors import validated
    from forewarn.workforce import service
    from forewarn.workforce.schemas import PostingIn

    data = validated(PostingIn, json.loads(file.read_text()), message="the posting is not valid")

    async def run(session: AsyncSession, _: Runtime) -> object:
        return await service.create_posting(session, data=data, actor=await actor_for(session, actor_email))

    emit(in_transaction(run), as_json=as_json, columns=["id", "title", "pathway", "closes_at"])


@workforce_app.command("metrics")
def metrics(as_json: JsonFlag = False) -> None:
    """Public aggregates per pathway (no personal data)."""
    from forewarn.workforce import service

    async def run(session: AsyncSession, _: Runtime) -> object:
        return await service.metrics(session)

    emit(
        in_transaction(run),
        as_json=as_json,
        columns=["pathway", "postings", "applicants", "hired", "median_days_to_hire", "routes"],
    )
