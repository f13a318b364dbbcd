"""``forewarn partners``: the registry, panels, requests, statistics and the consistency check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from forewarn.cli.common import emit, in_transaction
from forewarn.cli.grants import actor_for

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from forewarn.core.jobs import Runtime
    from forewarn.earlyaccess.partners.schemas import CheckOut, StatisticsOut


def _parse(model: Any, data: dict[str, Any]) -> Any:
    """Validate CLI input into a schema; a problem becomes a plain error naming the field."""
    from forewarn.core.errors import validated

    return validated(model, data)


partners_app = typer.Typer(
    help="Trusted-partner governance: registry, panels, decisions.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
As = Annotated[str, typer.Option("--as", help="Email of the person acting.")]
Reason = Annotated[str, typer.Option("--reason", help="The reason, for the record and the transparency log.")]


@partners_app.command("rules")
def rules(as_json: JsonFlag = False) -> None:
    """The published decision rules (every version, the current one first)."""
    from forewarn.earlyaccess.partners import service

    emit(service.list_rules(), as_json=as_json, columns=["version", "current", "digest"])


@partners_app.command("list")
def list_partners(as_json: JsonFlag = False) -> None:
    """Every partner with its category, status and version."""
    from forewarn.earlyaccess.partners import service

    async def run(session: AsyncSession, _: Runtime) -> object:
        return await service.list_partners(session, actor=None)

    emit(
        in_transaction(run),
        as_json=as_json,
        columns=["id", "organisation_name", "category", "status", "version", "status_reason"],
    )


async def _partner_id(session: AsyncSession, organisation: str) -> uuid.UUID:
    from forewarn.accounts import service as accounts
    from forewarn.core.errors import NotFound
    from forewarn.earlyaccess.partners import service

    org = await accounts.find_organisation(session, name_or_code=organisation)
    partner = await service.partner_of(session, organisation_id=org.id)
    if partner is None:
        raise NotFound(f"{org.name} has not applied to be a trusted partner")
    return partner.id


@partners_app.command("vet")
def vet(
    organisation: Annotated[str, typer.Argument(help="The partner organisation's name.")],
    actor_email: As,
    reason: Reason,
    failed: Annotated[
        list[str] | None, typer.Option("--failed", help="A checklist item that did not pass (repeatable).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record the vetting checklist: every item passes unless named with --failed."""
    from forewarn.earlyaccess.partners import service
    from forewarn.earlyaccess.partners.schemas import ChecklistItem, VettingIn

    known = {i.value for i in ChecklistItem}
    fails = set(failed or [])
    if fails - known:
        from forewarn.core.errors import InvalidInput, Problem

        raise InvalidInput(
            "unknown checklist item", problems=[Problem("--failed", f"use one of {', '.join(sorted(known))}")]
        )
    data = _parse(VettingIn, {"checklist": {i: i not in fails for i in known}, "reason": reason})

    async def run(session: AsyncSession, _: Runtime) -> object:
        partner_id = await _partner_id(session, organisation)
        return await service.vet(
            session, partner_id=partner_id, data=data, actor=await actor_for(session, actor_email)
        )

    emit(in_transaction(run), as_json=as_json, columns=["organisation_name", "status", "version"])


@partners_app.command("status")
def status(
    organisation: Annotated[str, typer.Argument(help="The partner organisation's name.")],
    new_status: Annotated[str, typer.Argument(help="suspended, revoked or vetted (reinstate).")],
    actor_email: As,
    reason: Reason,
    as_json: JsonFlag = False,
) -> None:
    """Suspend, revoke or reinstate a partner (suspension and revocation kill its keys at once)."""
    from forewarn.earlyaccess.partners import service
    from forewarn.earlyaccess.partners.schemas import StatusIn

    data = _parse(StatusIn, {"status": new_status, "reason": reason})

    async def run(session: AsyncSession, _: Runtime) -> object:
        partner_id = await _partner_id(session, organisation)
        return await service.change_status(
            session, partner_id=partner_id, data=data, actor=await actor_for(session, actor_email)
        )

    emit(in_transaction(run), as_json=as_json, columns=["organisation_name", "status", "status_reason"])


@partners_app.command("panels")
def panels(as_json: JsonFlag = False) -> None:
    """Panels and their members (constituency and organisation)."""
    from forewarn.earlyaccess.partners import service

    async def run(session: AsyncSession, _: Runtime) -> object:
        out = await service.list_panels(session)
        return (
            [
                {
                    "id": str(p.id),
                    "name": p.name,
                    "kind": p.kind.value,
                    "members": [
                        f"{m.name} ({m.constituency.value}, {m.organisation_name})" for m in p.members
                    ],
                }
                for p in out
            ]
            if not as_json
            else out
        )

    emit(in_transaction(run), as_json=as_json, columns=["id", "name", "kind", "members"])


@partners_app.command("panel-create")
def panel_create(
    name: Annotated[str, typer.Argument(help="The panel's name.")],
    kind: Annotated[str, typer.Option("--kind", help="standing or appeal.")] = "standing",
    as_json: JsonFlag = False,
) -> None:
    """Form a panel (the programme: no actor)."""
    from forewarn.earlyaccess.partners import service
    from forewarn.earlyaccess.partners.schemas import PanelIn

    data = _parse(PanelIn, {"name": name, "kind": kind})

    async def run(session: AsyncSession, _: Runtime) -> object:
        return await service.create_panel(session, data=data, actor=None)

    emit(in_transaction(run), as_json=as_json, columns=["id", "name", "kind"])


@partners_app.command("panel-add")
def panel_add(
    panel: Annotated[str, typer.Argument(help="The panel's name.")],
    email: Annotated[str, typer.Argument(help="Email of a person holding the panel_member role.")],
    as_json: JsonFlag = False,
) -> None:
    """Seat a member on a panel; the constituency follows their organisation's kind."""
    from forewarn.core.errors import NotFound
    from forewarn.earlyaccess.partners import service

    async def run(session: AsyncSession, _: Runtime) -> object:
        found = await service.find_panel(session, name=panel)
        if found is None:
            raise NotFound(f"no panel named {panel!r}")
        out = await service.add_member(session, panel_id=found.id, email=email, actor=None)
        return [m.model_dump(mode="json") for m in out.members]

    emit(in_transaction(run), as_json=as_json, columns=["name", "constituency", "organisation_name"])


@partners_app.command("requests")
def requests(as_json: JsonFlag = False) -> None:
    """Every access request, its state and rounds."""
    from forewarn.earlyaccess.partners import service

    async def run(session: AsyncSession, _: Runtime) -> object:
        return await service.list_requests(session, actor=None)

    emit(
        in_transaction(run),
        as_json=as_json,
        columns=["id", "organisation_name", "lab_name", "workstream", "state", "granted_ref"],
    )


@partners_app.command("settle-due")
def settle_due() -> None:
    """Settle every round whose deadline has passed (the worker does this on time, too)."""
    from forewarn.earlyaccess.partners import service

    async def run(session: AsyncSession, _: Runtime) -> int:
        return await service.settle_due(session)

    print(f"{in_transaction(run)} round(s) decided")


@partners_app.command("stats")
def stats(as_json: JsonFlag = False) -> None:
    """Approval and denial rates and time to decision by category and by lab; appeals."""
    from forewarn.earlyaccess.partners import service

    async def run(session: AsyncSession, _: Runtime) -> StatisticsOut:
        return await service.statistics_(session)

    out = in_transaction(run)
    if as_json:
        emit(out, as_json=True)
        return
    columns = [
        "group",
        "requests",
        "decided",
        "approved",
        "denied",
        "lapsed",
        "approval_rate",
        "median_days_to_decision",
    ]
    emit(out.by_category, as_json=False, columns=columns, title="By partner category")
    emit(out.by_lab, as_json=False, columns=columns, title="By lab")
    emit(out.appeals, as_json=False, title="Appeals")


@partners_app.command("check")
def check(as_json: JsonFlag = False) -> None:
    """Re-apply each decision's recorded rules version to its ballots; exit 1 on any mismatch."""
    from forewarn.earlyaccess.partners import service

    async def run(session: AsyncSession, _: Runtime) -> CheckOut:
        return await service.check(session)

    out = in_transaction(run)
    if as_json:
        emit(out, as_json=True)
    else:
        emit(out.mismatches, as_json=False, columns=["round_id", "problem"])
        print(
            f"{out.rounds_checked} decided rounds, {out.ballots_checked} ballots re-counted: "
            + ("every recorded outcome follows from its ballots" if out.ok else "MISMATCHES FOUND")
        )
    if not out.ok:
        raise typer.Exit(1)
