"""``forewarn review``: the participation agreement, windows, grants, reviewer keys and notices.

Commands act as a named person (``--as EMAIL``) so the access rules and the ledger see who did what;
a few programme operations (publishing an agreement, listing or closing windows, running the due job)
may run without ``--as``, as the programme itself. Credentials are read from an environment variable
(``--credential-env``), never from the command line.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forewarn.cli.common import console, emit, in_transaction

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from forewarn.accounts.schemas import Principal

review_app = typer.Typer(
    help="The pre-release review programme: agreement, participation, windows, access.", no_args_is_help=True
)
agreement_app = typer.Typer(help="The participation agreement: publish, list, sign.", no_args_is_help=True)
windows_app = typer.Typer(
    help="Review windows: list, open, credential, close, grant, keys.", no_args_is_help=True
)
review_app.add_typer(agreement_app, name="agreement")
review_app.add_typer(windows_app, name="windows")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
As = Annotated[str, typer.Option("--as", help="Act as this person (email).")]
AsOptional = Annotated[
    str | None, typer.Option("--as", help="Act as this person (email); omit to act as the programme.")
]
Org = Annotated[
    str | None, typer.Option("--org", help="In this organisation (name, code or id) when they have several.")
]

AGREEMENT_COLUMNS = ["version", "title", "published_at", "body_sha256"]
WINDOW_COLUMNS = [
    "id",
    "model_name",
    "model_version",
    "state",
    "day",
    "days_left",
    "closes_at",
    "close_reason",
]
GRANT_COLUMNS = ["id", "organisation_name", "kind", "decision_ref", "granted_at", "revoked_at"]
NOTICE_COLUMNS = ["created_at", "kind", "subject", "email_status"]


async def _who(session: AsyncSession, email: str | None, org: str | None) -> Principal | None:
    if email is None:
        return None
    from forewarn.cli.benchmark import acting

    return await acting(session, email, org)


async def _person(session: AsyncSession, email: str, org: str | None) -> Principal:
    from forewarn.cli.benchmark import acting

    return await acting(session, email, org)


@agreement_app.command("publish")
def agreement_publish(
    file: Annotated[Path, typer.Argument(help="The agreement's text (UTF-8, Markdown).")],
    title: Annotated[str, typer.Option(help="The version's title.")],
    actor: AsOptional = None,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Publish the next version of the participation agreement."""
    from forewarn.cli.main import parse
    from forewarn.earlyaccess.review import service
    from forewarn.earlyaccess.review.schemas import AgreementIn

    data = parse(AgreementIn, title=title, body=file.read_text(encoding="utf-8"))

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.publish_agreement(session, data=data, actor=await _who(session, actor, org))

    emit(in_transaction(run), as_json=as_json, columns=AGREEMENT_COLUMNS)


@agreement_app.command("list")
def agreement_list(as_json: JsonFlag = False) -> None:
    """Every published version (newest first)."""
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.list_agreements(session)

    emit(in_transaction(run), as_json=as_json, columns=AGREEMENT_COLUMNS)


@agreement_app.command("sign")
def agreement_sign(
    version: Annotated[int, typer.Argument(help="The version you read and sign (the current one).")],
    actor: As,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Sign the current agreement for your lab (its safety lead)."""
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        who = await _person(session, actor, org)
        return await service.sign(session, agreement_version=version, actor=who)

    emit(in_transaction(run), as_json=as_json)


@review_app.command("withdraw")
def withdraw(
    actor: As,
    reason: Annotated[str, typer.Option(help="Optional, public in the ledger.")] = "",
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Withdraw your lab now: its open windows close and every key dies."""
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        who = await _person(session, actor, org)
        return await service.withdraw(session, actor=who, reason=reason)

    emit(in_transaction(run), as_json=as_json)


@windows_app.command("list")
def windows_list(actor: AsOptional = None, org: Org = None, as_json: JsonFlag = False) -> None:
    """Windows (all of them as the programme; as a person, those they take part in)."""
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.list_windows(session, actor=await _who(session, actor, org))

    emit(in_transaction(run), as_json=as_json, columns=WINDOW_COLUMNS)


@windows_app.command("open")
def windows_open(
    model_id: Annotated[uuid.UUID, typer.Argument()], actor: As, org: Org = None, as_json: JsonFlag = False
) -> None:
    """Open a window for your model (the programme's length, ``FOREWARN_REVIEW_WINDOW_DAYS``)."""
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        who = await _person(session, actor, org)
        return await service.open_window(
            session,
            model_id=model_id,
            actor=who,
            length_days=rt.settings.review_window_days,
            require_covered=rt.settings.review_require_covered,
        )

    emit(in_transaction(run), as_json=as_json, columns=WINDOW_COLUMNS)


@windows_app.command("credential")
def windows_credential(
    window_id: Annotated[uuid.UUID, typer.Argument()],
    actor: As,
    credential_env: Annotated[
        str | None, typer.Option(help="Name of an environment variable holding the upstream API key.")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="Default: the model's endpoint.")] = None,
    upstream_model: Annotated[str | None, typer.Option(help="Default: the model's.")] = None,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Hand over the window's upstream credential; the first one starts access."""
    import os

    from forewarn.cli.main import parse
    from forewarn.core.errors import InvalidInput
    from forewarn.earlyaccess.review import service
    from forewarn.earlyaccess.review.schemas import CredentialIn

    secret = None
    if credential_env is not None:
        secret = os.environ.get(credential_env)
        if not secret:
            raise InvalidInput(f"credential_env: the environment variable {credential_env} is not set")
    data = parse(CredentialIn, base_url=base_url, upstream_model=upstream_model, credential=secret)

    async def run(session: AsyncSession, rt: Any) -> Any:
        who = await _person(session, actor, org)
        return await service.register_credential(
            session, window_id=window_id, data=data, actor=who, key=rt.keys.data
        )

    emit(in_transaction(run), as_json=as_json, columns=WINDOW_COLUMNS)


@windows_app.command("close")
def windows_close(
    window_id: Annotated[uuid.UUID, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why (public in the ledger).")] = "",
    actor: AsOptional = None,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Close a window now (its lab, a coordinator, or the programme); every key dies."""
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.close_window(
            session, window_id=window_id, actor=await _who(session, actor, org), reason=reason
        )

    emit(in_transaction(run), as_json=as_json, columns=WINDOW_COLUMNS)


@windows_app.command("grant")
def windows_grant(
    window_id: Annotated[uuid.UUID, typer.Argument()],
    agency: Annotated[str, typer.Option(help="The agency (name, code or id).")],
    actor: As,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Give an agency access to a window (assessment coordinators)."""
    from forewarn.accounts import service as accounts
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        who = await _person(session, actor, org)
        try:
            target = uuid.UUID(agency)
        except ValueError:
            target = (await accounts.find_organisation(session, name_or_code=agency)).id
        return await service.grant_agency_access(
            session, window_id=window_id, organisation_id=target, actor=who
        )

    emit(in_transaction(run), as_json=as_json, columns=GRANT_COLUMNS)


@windows_app.command("grants")
def windows_grants(
    window_id: Annotated[uuid.UUID, typer.Argument()],
    actor: AsOptional = None,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Who has access to a window."""
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.list_grants(session, window_id=window_id, actor=await _who(session, actor, org))

    emit(in_transaction(run), as_json=as_json, columns=GRANT_COLUMNS)


@windows_app.command("issue-key")
def windows_issue_key(
    window_id: Annotated[uuid.UUID, typer.Argument()],
    person: Annotated[str, typer.Option(help="The reviewer (email).")],
    actor: As,
    rate_limit: Annotated[int, typer.Option(help="Calls per minute.")] = 60,
    token_budget: Annotated[int, typer.Option(help="Tokens in all.")] = 1_000_000,
    org: Org = None,
) -> None:
    """Issue a reviewer key (assessment coordinators); the secret is printed once."""
    from forewarn.accounts import service as accounts
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        who = await _person(session, actor, org)
        holder = await accounts.find_person(session, email=person)
        return await service.issue_reviewer_key(
            session,
            window_id=window_id,
            person_id=holder.id,
            actor=who,
            rate_limit_per_minute=rate_limit,
            token_budget=token_budget,
        )

    issued = in_transaction(run)
    console.print(f"key {issued.prefix}… expires {issued.expires_at.isoformat()}; shown once:")
    print(issued.secret.get_secret_value())


@windows_app.command("notices")
def windows_notices(
    window_id: Annotated[uuid.UUID, typer.Argument()],
    actor: AsOptional = None,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """The notices of a window."""
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.list_notices(session, actor=await _who(session, actor, org), window_id=window_id)

    emit(in_transaction(run), as_json=as_json, columns=NOTICE_COLUMNS)


@review_app.command("due")
def due(as_json: JsonFlag = False) -> None:
    """Run the due job now: close windows whose time is up, record and email due notices."""
    from forewarn.core.mail import mailer_from
    from forewarn.earlyaccess.review import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        report = await service.run_due(session, mailer=mailer_from(rt.settings))
        return {
            "closed": [str(w) for w in report.closed],
            "notices": report.notices,
            "emailed": report.emailed,
        }

    emit(in_transaction(run), as_json=as_json)
