"""``forewarn grants``: calls for proposals, rankings and awards (``--json`` for scripts)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from forewarn.cli.common import emit, in_transaction

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from forewarn.accounts.schemas import Principal
    from forewarn.core.jobs import Runtime

grants_app = typer.Typer(help="Grants for AI vulnerability detection tools.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
As = Annotated[str, typer.Option("--as", help="Email of the grants officer acting.")]


async def actor_for(session: AsyncSession, email: str) -> Principal:
    """The person's principal in their first organisation (the CLI acts as a named person)."""
    from forewarn.accounts import service as accounts
    from forewarn.core.errors import InvalidInput

    person = await accounts.find_person(session, email=email)
    if not person.memberships:
        raise InvalidInput(f"{email} belongs to no organisation")
    found = await accounts.principal_for(
        session, person_id=person.id, organisation_id=person.memberships[0].organisation_id, via="cli"
    )
    if found is None:
        raise InvalidInput(f"{email} cannot act now")
    return found


@grants_app.command("calls")
def calls(as_json: JsonFlag = False) -> None:
    """Published calls for proposals."""
    from forewarn.grants import service

    async def run(session: AsyncSession, _: Runtime) -> object:
        return await service.list_calls(session, actor=None)

    emit(
        in_transaction(run),
        as_json=as_json,
        columns=["id", "title", "agency_name", "award_ceiling", "closes_at", "state"],
    )


@grants_app.command("create-call")
def create_call(
    file: Annotated[
        Path, typer.Argument(help="A JSON call: title, purpose, funding_pool, award_ceiling, ...")
    ],
    actor_email: As,
    publish: Annotated[bool, typer.Option(help="Publish it at once.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create (and optionally publish) a call for proposals from a JSON file."""
    from forewarn.core.errors import validated
    from forewarn.grants import service
    from forewarn.grants.schemas import CallIn

    data = validated(CallIn, json.loads(file.read_text()), message="the call is not valid")

    async def run(session: AsyncSession, _: Runtime) -> object:
        actor = await actor_for(session, actor_email)
        call = await service.create_call(session, data=data, actor=actor)
        return await service.publish_call(session, call_id=call.id, actor=actor) if publish else call

    emit(in_transaction(run), as_json=as_json, columns=["id", "title", "state", "closes_at"])


@grants_app.command("ranking")
def ranking(call_id: uuid.UUID, actor_email: As, as_json: JsonFlag = False) -> None:
    """Applications of a call ranked by mean per-reviewer z-score."""
    from forewarn.grants import service

    async def run(session: AsyncSession, _: Runtime) -> object:
        return await service.ranking(session, call_id=call_id, actor=await actor_for(session, actor_email))

    emit(
        in_transaction(run),
        as_json=as_json,
        columns=[
            "rank",
            "organisation_name",
            "tool_name",
            "budget",
            "reviews",
            "mean_raw",
            "mean_z",
            "state",
        ],
    )


@grants_app.command("awards")
def awards(as_json: JsonFlag = False) -> None:
    """Every award: who, how much, for what, and how much is paid."""
    from forewarn.grants import service

    async def run(session: AsyncSession, _: Runtime) -> object:
        return await service.list_awards(session)

    emit(
        in_transaction(run),
        as_json=as_json,
        columns=["id", "organisation_name", "tool_name", "amount", "disbursed", "call_title"],
    )


@grants_app.command("performance")
def performance(award_id: uuid.UUID, as_json: JsonFlag = False) -> None:
    """A funded tool's record in the clearinghouse (reports, validated, duplicates, time to validation)."""
    from forewarn.grants import service

    async def run(session: AsyncSession, _: Runtime) -> object:
        award = await service.get_award(session, award_id=award_id, actor=None)
        return award.performance.model_dump() if award.performance else {"registered": False}

    emit(in_transaction(run), as_json=as_json)
