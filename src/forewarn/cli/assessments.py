"""``forewarn assessments``: workstreams, findings (file, import garak / Inspect, triage, merge,
forward) and the window's report as JSON or PDF.

Commands act as a named person (``--as EMAIL``) so the access rules (TLP included) and the ledger see
who did what.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forewarn.cli.benchmark import acting
from forewarn.cli.common import console, emit, in_transaction

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

assessments_app = typer.Typer(
    help="Assessments of review windows: workstreams, findings, imports, reports.", no_args_is_help=True
)
workstream_app = typer.Typer(help="Workstreams of a window (assessment coordinators).", no_args_is_help=True)
findings_app = typer.Typer(help="Findings: file, import, list, triage, merge, forward.", no_args_is_help=True)
assessments_app.add_typer(workstream_app, name="workstream")
assessments_app.add_typer(findings_app, name="findings")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
As = Annotated[str, typer.Option("--as", help="Act as this person (email).")]
Org = Annotated[str | None, typer.Option("--org", help="In this organisation when they have several.")]
Window = Annotated[uuid.UUID, typer.Option("--window", help="The review window's id.")]
Tlp = Annotated[str, typer.Option("--tlp", help="CLEAR, GREEN, AMBER, AMBER+STRICT or RED.")]

FINDING_COLUMNS = [
    "id",
    "title",
    "severity",
    "area",
    "tlp",
    "status",
    "filer_organisation_name",
    "forward_state",
]
WORKSTREAM_COLUMNS = ["id", "title", "area", "lead_organisation_name", "due_date", "status"]


def _parse(model: Any, **values: Any) -> Any:
    from forewarn.cli.main import parse

    return parse(model, **values)


def _runtime_limits(runtime: Any) -> Any:
    from forewarn.earlyaccess.review.assessments import imports

    return imports.Limits(
        max_bytes=runtime.settings.assessment_max_evidence_bytes,
        max_lines=runtime.settings.assessment_max_import_lines,
    )


def _read(path: Path, limit: int = 26_214_400) -> bytes:
    from forewarn.core.errors import InvalidInput, TooLarge

    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    if path.stat().st_size > limit:
        raise TooLarge(f"{path}: larger than {limit} bytes")
    return path.read_bytes()


@assessments_app.command("windows")
def windows(actor: As, org: Org = None, as_json: JsonFlag = False) -> None:
    """Review windows you take part in."""
    from forewarn.earlyaccess.review.assessments import service

    async def run(session: AsyncSession, runtime: Any) -> Any:
        return await service.list_windows(session, actor=await acting(session, actor, org))

    emit(
        in_transaction(run),
        as_json=as_json,
        columns=["id", "model_name", "model_version", "state", "day", "closes_at"],
    )


@workstream_app.command("plan")
def workstream_plan(
    window: Window,
    title: Annotated[str, typer.Option("--title")],
    area: Annotated[
        str, typer.Option("--area", help="cyber_offence, cbrn, autonomy, model_security, persuasion, other")
    ],
    lead: Annotated[str, typer.Option("--lead", help="The lead organisation (name, code or id).")],
    due: Annotated[str, typer.Option("--due", help="Due date, YYYY-MM-DD.")],
    actor: As,
    member: Annotated[
        list[str] | None, typer.Option("--member", help="A member organisation (repeat).")
    ] = None,
    notes: Annotated[str, typer.Option("--notes")] = "",
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Plan a workstream of a window."""
    from forewarn.accounts import service as accounts
    from forewarn.earlyaccess.review.assessments import service
    from forewarn.earlyaccess.review.assessments.schemas import WorkstreamIn

    async def org_id(session: AsyncSession, ref: str) -> str:
        try:
            return str(uuid.UUID(ref))
        except ValueError:
            return str((await accounts.find_organisation(session, name_or_code=ref)).id)

    async def run(session: AsyncSession, runtime: Any) -> Any:
        data = _parse(
            WorkstreamIn,
            title=title,
            area=area,
            lead_organisation_id=await org_id(session, lead),
            member_organisation_ids=[await org_id(session, m) for m in member or []],
            due_date=due,
            notes=notes,
        )
        return await service.plan_workstream(
            session, window_id=window, data=data, actor=await acting(session, actor, org)
        )

    emit(in_transaction(run), as_json=as_json, columns=WORKSTREAM_COLUMNS)


@workstream_app.command("list")
def workstream_list(window: Window, actor: As, org: Org = None, as_json: JsonFlag = False) -> None:
    from forewarn.earlyaccess.review.assessments import service

    async def run(session: AsyncSession, runtime: Any) -> Any:
        return await service.list_workstreams(
            session, window_id=window, actor=await acting(session, actor, org)
        )

    emit(in_transaction(run), as_json=as_json, columns=WORKSTREAM_COLUMNS)


@findings_app.command("list")
def findings_list(window: Window, actor: As, org: Org = None, as_json: JsonFlag = False) -> None:
    """The window's findings you may read under their TLP labels."""
    from forewarn.earlyaccess.review.assessments import service

    async def run(session: AsyncSession, runtime: Any) -> Any:
        return await service.list_findings(session, window_id=window, actor=await acting(session, actor, org))

    emit(in_transaction(run), as_json=as_json, columns=FINDING_COLUMNS)


@findings_app.command("file")
def findings_file(
    window: Window,
    title: Annotated[str, typer.Option("--title")],
    severity: Annotated[str, typer.Option("--severity", help="critical, high, medium, low, informational")],
    area: Annotated[str, typer.Option("--area")],
    description: Annotated[Path, typer.Option("--description", help="A text file with the description.")],
    actor: As,
    tlp: Tlp = "AMBER",
    reproduction: Annotated[Path | None, typer.Option("--reproduction", help="A text file.")] = None,
    evidence: Annotated[
        list[Path] | None, typer.Option("--evidence", help="An evidence file (repeat).")
    ] = None,
    workstream: Annotated[uuid.UUID | None, typer.Option("--workstream")] = None,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """File a finding; evidence files are sealed at rest."""
    from forewarn.earlyaccess.review.assessments import service
    from forewarn.earlyaccess.review.assessments.schemas import FindingIn

    async def run(session: AsyncSession, runtime: Any) -> Any:
        data = _parse(
            FindingIn,
            title=title,
            severity=severity,
            area=area,
            tlp=tlp,
            workstream_id=workstream,
            description=_read(description, 1_000_000).decode("utf-8", "replace"),
            reproduction=_read(reproduction, 1_000_000).decode("utf-8", "replace") if reproduction else "",
        )
        limit = runtime.settings.assessment_max_evidence_bytes
        return await service.file_finding(
            session,
            window_id=window,
            data=data,
            actor=await acting(session, actor, org),
            key=runtime.keys.data,
            attachments=[(p.name, _read(p, limit)) for p in evidence or []],
            max_evidence_bytes=limit,
        )

    emit(in_transaction(run), as_json=as_json, columns=FINDING_COLUMNS)


@findings_app.command("import-garak")
def import_garak(
    file: Annotated[Path, typer.Argument(help="A garak report (garak.<run>.report.jsonl).")],
    window: Window,
    actor: As,
    tlp: Tlp = "AMBER",
    workstream: Annotated[uuid.UUID | None, typer.Option("--workstream")] = None,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """One finding per garak probe with failed outputs (nothing is stored if the file is bad)."""
    from forewarn.earlyaccess.review.assessments import service
    from forewarn.earlyaccess.review.assessments.schemas import Tlp as TlpLabel

    async def run(session: AsyncSession, runtime: Any) -> Any:
        limits = _runtime_limits(runtime)
        return await service.import_garak(
            session,
            window_id=window,
            blob=_read(file, limits.max_bytes),
            tlp=TlpLabel(tlp),
            workstream_id=workstream,
            actor=await acting(session, actor, org),
            key=runtime.keys.data,
            limits=limits,
        )

    out = in_transaction(run)
    emit(out.findings, as_json=as_json, columns=FINDING_COLUMNS, title="garak findings")
    if out.passed_probes and not as_json:
        console.print("probes that passed every output: " + ", ".join(out.passed_probes))


@findings_app.command("import-inspect")
def import_inspect(
    file: Annotated[Path, typer.Argument(help="An Inspect eval log (.eval or .json).")],
    window: Window,
    actor: As,
    severity: Annotated[str, typer.Option("--severity")] = "informational",
    area: Annotated[str, typer.Option("--area")] = "other",
    tlp: Tlp = "AMBER",
    workstream: Annotated[uuid.UUID | None, typer.Option("--workstream")] = None,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """One finding summarising an Inspect eval log; the log is attached as sealed evidence."""
    from forewarn.core.errors import InvalidInput
    from forewarn.earlyaccess.review.assessments import service
    from forewarn.earlyaccess.review.assessments.schemas import Area, Severity
    from forewarn.earlyaccess.review.assessments.schemas import Tlp as TlpLabel

    async def run(session: AsyncSession, runtime: Any) -> Any:
        limits = _runtime_limits(runtime)
        try:
            choices = (Severity(severity), Area(area), TlpLabel(tlp))
        except ValueError as exc:
            raise InvalidInput(f"--severity, --area or --tlp: {exc}") from None
        return await service.import_inspect(
            session,
            window_id=window,
            blob=_read(file, limits.max_bytes),
            filename=file.name,
            severity=choices[0],
            area=choices[1],
            tlp=choices[2],
            workstream_id=workstream,
            actor=await acting(session, actor, org),
            key=runtime.keys.data,
            limits=limits,
        )

    emit(in_transaction(run).findings, as_json=as_json, columns=FINDING_COLUMNS)


@findings_app.command("triage")
def findings_triage(
    finding: Annotated[uuid.UUID, typer.Argument()],
    status: Annotated[
        str, typer.Option("--status", help="new, triaged, confirmed, not_reproducible, closed")
    ],
    actor: As,
    note: Annotated[str, typer.Option("--note")] = "",
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    from forewarn.earlyaccess.review.assessments import service
    from forewarn.earlyaccess.review.assessments.schemas import TriageIn

    async def run(session: AsyncSession, runtime: Any) -> Any:
        data = _parse(TriageIn, status=status, note=note)
        return await service.triage(
            session, finding_id=finding, data=data, actor=await acting(session, actor, org)
        )

    emit(in_transaction(run), as_json=as_json, columns=FINDING_COLUMNS)


@findings_app.command("merge")
def findings_merge(
    finding: Annotated[uuid.UUID, typer.Argument(help="The duplicate.")],
    into: Annotated[uuid.UUID, typer.Option("--into", help="The primary finding.")],
    actor: As,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Merge a duplicate into its primary finding (both reporters stay named)."""
    from forewarn.earlyaccess.review.assessments import service

    async def run(session: AsyncSession, runtime: Any) -> Any:
        return await service.merge(
            session, finding_id=finding, primary_id=into, actor=await acting(session, actor, org)
        )

    emit(in_transaction(run), as_json=as_json, columns=FINDING_COLUMNS)


@findings_app.command("forward")
def findings_forward(
    finding: Annotated[uuid.UUID, typer.Argument()], actor: As, org: Org = None, as_json: JsonFlag = False
) -> None:
    """Mark as affecting critical infrastructure and forward to the clearinghouse (or try again)."""
    from forewarn.earlyaccess.review.assessments import service

    async def run(session: AsyncSession, runtime: Any) -> Any:
        who = await acting(session, actor, org)
        current = await service.get_finding(session, finding_id=finding, actor=who)
        if current.affects_critical_infrastructure:
            return await service.forward(session, finding_id=finding, actor=who)
        return await service.mark_critical_infrastructure(session, finding_id=finding, actor=who)

    out = in_transaction(run)
    emit(out, as_json=as_json, columns=[*FINDING_COLUMNS, "forward_reason"])


@assessments_app.command("report")
def report(
    window: Window,
    actor: As,
    format: Annotated[str, typer.Option("--format", help="json or pdf")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="Write here (default: JSON to stdout).")] = None,
    issue: Annotated[
        bool, typer.Option("--issue", help="Issue it (coordinators; recorded in the log).")
    ] = False,
    org: Org = None,
) -> None:
    """The window's assessment report, as you may read it, as JSON or PDF."""
    from forewarn.core.errors import InvalidInput
    from forewarn.earlyaccess.review.assessments import report as pdf
    from forewarn.earlyaccess.review.assessments import service

    if format not in ("json", "pdf"):
        raise InvalidInput("--format: json or pdf")
    if format == "pdf" and out is None:
        raise InvalidInput("--out: a PDF goes to a file")

    async def run(session: AsyncSession, runtime: Any) -> Any:
        who = await acting(session, actor, org)
        if issue:
            return await service.issue_report(session, window_id=window, actor=who)
        return await service.build_report(session, window_id=window, actor=who)

    result = in_transaction(run)
    blob = pdf.render_pdf(result) if format == "pdf" else result.model_dump_json(indent=2).encode()
    if out is None:
        print(blob.decode())
        return
    out.write_bytes(blob)
    console.print(f"wrote the {format.upper()} report of window {window} to {out}")


__all__ = ["assessments_app"]
