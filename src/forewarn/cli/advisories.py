"""``forewarn advisories``: import and validate advisory documents, import KEV, export the public files.

``validate`` checks documents exactly as intake does and stores nothing; it exits non-zero and lists
every problem by file and field. ``import`` stores reports all-or-nothing (every file is checked
before any is stored). ``import --public`` streams already-public OSV records (files, folders, or
OSV's ``all.zip`` archives) into the public advisory store in one transaction, in bounded batches.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forewarn.cli.common import console, emit, err_console, in_transaction

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from forewarn.accounts.schemas import Principal
    from forewarn.core.jobs import Runtime

advisories_app = typer.Typer(
    help="Clearinghouse advisories: validate and import documents, import KEV, export CSAF and OSV.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Files = Annotated[
    list[Path], typer.Argument(help="Documents: OSV, CSAF 2.0, CVE JSON 5, SARIF 2.1.0, garak JSONL.")
]
BATCH = 1000
#: Largest zip member read (an OSV record; the codec's own limit applies after).
MAX_MEMBER_BYTES = 16 * 1024 * 1024


def _documents(paths: list[Path], *, expand: bool) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each document, one at a time; folders and zip archives when *expand*."""
    for path in paths:
        if expand and path.is_dir():
            for child in sorted(path.rglob("*.json")):
                yield str(child), child.read_bytes()
        elif expand and path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if info.is_dir() or not info.filename.endswith(".json"):
                        continue
                    with archive.open(info) as member:
                        yield f"{path}:{info.filename}", member.read(MAX_MEMBER_BYTES + 1)
        else:
            if not path.is_file():
                raise typer.BadParameter(f"{path} is not a file")
            yield str(path), path.read_bytes()


def _problems(exc: Any) -> list[dict[str, str]]:
    return [{"field": p.field, "message": p.message} for p in exc.problems]


@advisories_app.command("validate")
def validate(files: Files, as_json: JsonFlag = False) -> None:
    """Check documents as intake would, without storing anything; exit 1 listing every problem."""
    from forewarn.clearinghouse.advisories.errors import InvalidAdvisory
    from forewarn.clearinghouse.advisories.intake import Limits, parse_document
    from forewarn.core.settings import Settings

    settings = Settings()
    limits = Limits(
        max_bytes=settings.advisory_max_document_bytes,
        max_advisories=settings.advisory_max_per_document,
        max_lines=settings.advisory_max_jsonl_lines,
    )
    results: list[dict[str, Any]] = []
    for name, raw in _documents(files, expand=False):
        try:
            parsed = parse_document(raw, filename=name, limits=limits)
        except InvalidAdvisory as exc:
            results.append({"file": name, "ok": False, "message": exc.message, "problems": _problems(exc)})
            continue
        results.append(
            {
                "file": name,
                "ok": True,
                "format": parsed.format.value,
                "advisories": [a.id for a in parsed.advisories],
            }
        )
    if as_json:
        emit(results, as_json=True)
    else:
        for item in results:
            if item["ok"]:
                console.print(
                    f"ok  {item['file']}: {item['format']}, {', '.join(item['advisories'])}",
                    highlight=False,
                    markup=False,
                )
                continue
            err_console.print(f"bad {item['message']}", highlight=False, markup=False, soft_wrap=True)
            for problem in item["problems"]:
                err_console.print(
                    f"    {problem['field'] or '(document)'}: {problem['message']}",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
    if not all(item["ok"] for item in results):
        raise typer.Exit(1)


async def _actor(session: AsyncSession, email: str | None) -> Principal | None:
    if email is None:
        return None
    from forewarn.accounts import service as accounts
    from forewarn.core.errors import InvalidInput

    person = await accounts.find_person(session, email=email)
    if not person.memberships:
        raise InvalidInput(f"{email} belongs to no organisation")
    return await accounts.principal_for(
        session, person_id=person.id, organisation_id=person.memberships[0].organisation_id, via="cli"
    )


@advisories_app.command("import")
def import_(
    files: Files,
    tlp: Annotated[
        str, typer.Option(help="TLP of the reports: RED, AMBER+STRICT, AMBER, GREEN, CLEAR.")
    ] = "AMBER",
    reporter: Annotated[
        str | None, typer.Option("--as", help="Email of the reporting person (default: the system).")
    ] = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Already-public OSV records (files, folders, all.zip): store them for matching, no triage.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import documents as reports (all or nothing), or public OSV records with --public."""
    from forewarn.clearinghouse.advisories.errors import InvalidAdvisory
    from forewarn.clearinghouse.advisories.schemas import Tlp
    from forewarn.core.errors import InvalidInput, Problem

    try:
        label = Tlp(tlp.upper())
    except ValueError:
        raise InvalidInput(
            "unknown TLP label", problems=[Problem("--tlp", "RED, AMBER+STRICT, AMBER, GREEN or CLEAR")]
        ) from None

    if public:
        totals = in_transaction(lambda session, runtime: _import_public(session, files, reporter))
        emit(totals, as_json=as_json)
        return

    async def run(session: AsyncSession, runtime: Runtime) -> list[Any]:
        from forewarn.clearinghouse.advisories import service
        from forewarn.clearinghouse.advisories.intake import parse_document

        config = service.config_from(runtime.settings)
        parsed, bad = [], []
        for name, raw in _documents(files, expand=False):
            try:
                parsed.append((name, parse_document(raw, filename=name, limits=config.limits)))
            except InvalidAdvisory as exc:
                bad.append(exc)
        if bad:
            problems = [
                Problem(f"{exc.message} {p.field}".strip(), p.message) for exc in bad for p in exc.problems
            ]
            raise InvalidAdvisory(
                f"{len(bad)} of {len(parsed) + len(bad)} documents refused; nothing stored", problems=problems
            )
        actor = await _actor(session, reporter)
        out = []
        for name, item in parsed:
            out += await service.submit_parsed(
                session, parsed=item, filename=Path(name).name, tlp=label, actor=actor
            )
        return out

    reports = in_transaction(run)
    emit(reports, as_json=as_json, columns=["id", "advisory_id", "title", "tlp", "source_format"])


async def _import_public(session: AsyncSession, files: list[Path], reporter: str | None) -> dict[str, int]:
    from forewarn.clearinghouse.advisories import service

    result = await service.import_public_stream(
        session, documents=_documents(files, expand=True), actor=await _actor(session, reporter), batch=BATCH
    )
    return result.model_dump()


@advisories_app.command("kev")
def kev(
    file: Annotated[Path, typer.Argument(help="known_exploited_vulnerabilities.json")],
    as_json: JsonFlag = False,
) -> None:
    """Import the CISA KEV catalogue: flags known exploited vulnerabilities, brings embargoes forward."""
    from forewarn.clearinghouse.advisories import service
    from forewarn.clearinghouse.advisories.intake import named
    from forewarn.clearinghouse.advisories.kev import loads_kev

    try:
        catalog = loads_kev(file.read_bytes())
    except Exception as exc:
        from forewarn.clearinghouse.advisories.errors import InvalidAdvisory

        if isinstance(exc, InvalidAdvisory):
            raise named(exc, str(file)) from None
        raise

    async def run(session: AsyncSession, runtime: Runtime) -> Any:
        return await service.import_kev(
            session, catalog=catalog, actor=None, config=service.config_from(runtime.settings)
        )

    emit(in_transaction(run), as_json=as_json)


@advisories_app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(help="Where to write csaf/ (a web root) and osv/.")],
    as_json: JsonFlag = False,
) -> None:
    """Write the CSAF 2.0 provider layout and the OSV export of everything published."""
    from forewarn.clearinghouse.advisories import exports, openpgp, service

    async def run(session: AsyncSession, runtime: Runtime) -> Any:
        config = service.config_from(runtime.settings)
        csaf, osv = await service.export_trees(session, config=config)
        signer = openpgp.signer_from_settings(runtime.settings)
        return exports.sign_csaf_tree(csaf, signer=signer, base_url=config.base_url), osv

    csaf, osv = in_transaction(run)
    written = 0
    for root, tree in ((directory / "csaf", csaf), (directory / "osv", osv)):
        for rel, content in tree.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            written += 1
    emit(
        {"directory": str(directory), "files": written, "csaf_files": len(csaf), "osv_files": len(osv)},
        as_json=as_json,
    )
