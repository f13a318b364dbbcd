"""``forewarn org``, ``forewarn user`` and ``forewarn token``."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from forewarn.cli.common import emit, in_transaction

org_app = typer.Typer(
    help="Organisations: agencies, labs, partners, operators, vendors, grantees.", no_args_is_help=True
)
user_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="Organisation name.")],
    kind: Annotated[str, typer.Option(help="agency, lab, partner, operator, vendor or grantee.")],
    code: Annotated[
        str | None, typer.Option(help="Agency code (NSA, CISA, NIST, ONCD, TREASURY, ...).")
    ] = None,
    sector: Annotated[str | None, typer.Option(help="Sector, for operators.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an organisation."""
    from forewarn.accounts import service
    from forewarn.accounts.schemas import OrganisationIn
    from forewarn.cli.main import parse

    data = parse(OrganisationIn, name=name, kind=kind, code=code, sector=sector)
    org = in_transaction(lambda s, _rt: service.create_organisation(s, data=data, actor=None))
    emit(org, as_json=as_json, columns=["id", "name", "kind", "code"])


@org_app.command("list")
def org_list(as_json: JsonFlag = False) -> None:
    """List organisations."""
    from forewarn.accounts import service

    orgs = in_transaction(lambda s, _rt: service.list_organisations(s, actor=None))
    emit(orgs, as_json=as_json, columns=["id", "name", "kind", "code", "sector"])


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option(help="Full name.")],
    org: Annotated[str, typer.Option(help="Organisation name, code or id.")],
    role: Annotated[list[str], typer.Option(help="Role in the organisation (repeatable).")] = ["member"],  # noqa: B006
    password: Annotated[
        str | None,
        typer.Option(help="Initial password (12+ chars); asked for when omitted.", hide_input=True),
    ] = None,
    platform_admin: Annotated[bool, typer.Option(help="Make a platform administrator.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a person (or add roles to an existing one) in an organisation."""
    from forewarn.accounts import service
    from forewarn.accounts.schemas import PersonIn
    from forewarn.cli.main import parse

    if password is None:
        password = typer.prompt("Initial password", hide_input=True, confirmation_prompt=True)

    async def run(session, _rt):  # type: ignore[no-untyped-def]
        found = await _org(session, org)
        data = parse(PersonIn, email=email, name=name, organisation_id=found, roles=role, password=password)
        return await service.create_person(session, data=data, actor=None, platform_admin=platform_admin)

    person = in_transaction(run)
    emit(person, as_json=as_json, columns=["id", "email", "name", "memberships"])


async def _org(session, ref: str) -> uuid.UUID:  # type: ignore[no-untyped-def]
    from forewarn.accounts import service

    try:
        return uuid.UUID(ref)
    except ValueError:
        return (await service.find_organisation(session, name_or_code=ref)).id


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Argument(help="Whose token.")],
    org: Annotated[str, typer.Option(help="Organisation the token acts for (name, code or id).")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    days: Annotated[int, typer.Option(min=1, max=366)] = 90,
    as_json: JsonFlag = False,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from forewarn.accounts import service
    from forewarn.accounts.schemas import TokenIn

    async def run(session, _rt):  # type: ignore[no-untyped-def]
        person = await service.find_person(session, email=email)
        return await service.create_token(
            session,
            data=TokenIn(name=name, days=days),
            person_id=person.id,
            organisation_id=await _org(session, org),
            actor=None,
        )

    created = in_transaction(run)
    emit(created, as_json=as_json, columns=["id", "name", "expires_at", "token"])


@token_app.command("revoke")
def token_revoke(token_id: Annotated[uuid.UUID, typer.Argument()], as_json: JsonFlag = False) -> None:
    """Revoke a token by id (it stops working at once)."""
    from forewarn.accounts import service

    out = in_transaction(lambda s, _rt: service.revoke_token(s, token_id=token_id, actor=None))
    emit(out, as_json=as_json, columns=["id", "name", "revoked_at"])
