"""``forewarn scan``: match an SBOM against OSV advisories on this machine, as ``osv-scanner --offline`` does.

Exit status: 0 when no scanned component is affected, 1 when one is, 2 on bad input (the SBOM, an
advisory record, a VEX document, or the options), with one line on stderr saying what is wrong.

Without ``--advisories`` the scan asks a forewarn server (``--server URL --token TOKEN``): the SBOM is
sent to ``POST /api/v1/scan``, matched against the server's published advisories and not stored; the
output (table or ``--json``) and the exit status are the same as offline.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forewarn.cli.common import console, err_console

if TYPE_CHECKING:
    from forewarn.clearinghouse.advisories.schemas import Advisory
    from forewarn.clearinghouse.inventory.schemas import Component, Inventory
    from forewarn.clearinghouse.matching.engine import MatchReport
    from forewarn.clearinghouse.matching.vex import VexStatement

#: Most advisory records read from one folder or zip (the whole OSV database is ~5·10⁵).
MAX_ADVISORY_FILES = 2_000_000
#: Most bytes read from a zip in total (a zip bomb stops here, whatever its headers claim).
MAX_ZIP_BYTES = 8 * 1024**3
#: Unscannable components listed in the table before "… and N more".
TABLE_UNSCANNABLE = 20


class BadInput(Exception):
    """Input the scan cannot use: reported in one line, exit status 2."""


@dataclass
class _Loaded:
    advisories: list[Advisory]
    files: int
    skipped: list[str]


# --------------------------------------------------------------------------------------------------
# Reading inputs
# --------------------------------------------------------------------------------------------------


def _read_file(path: Path, limit: int, what: str) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadInput(f"{what} {path}: {exc.strerror or exc}") from None
    if not path.is_file():
        raise BadInput(f"{what} {path} is not a file")
    if size > limit:
        raise BadInput(f"{what} {path} is too large ({size} bytes; the limit is {limit})")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{what} {path}: {exc.strerror or exc}") from None


def _records(source: Path, limit: int) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` of every ``*.json`` file in a folder (recursively) or a zip."""
    if source.is_dir():
        count = 0
        for path in sorted(source.rglob("*.json")):
            if not path.is_file():
                continue
            count += 1
            if count > MAX_ADVISORY_FILES:
                raise BadInput(f"{source} holds more than {MAX_ADVISORY_FILES} records")
            yield str(path), _read_file(path, limit, "advisory")
        return
    if not source.exists():
        raise BadInput(f"advisories {source}: no such file or folder")
    if not zipfile.is_zipfile(source):
        raise BadInput(f"advisories {source} is neither a folder nor a zip of OSV records")
    total = 0
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadInput(f"advisories {source} cannot be read: {str(exc)[:200]}") from None
    with archive:
        members = [i for i in archive.infolist() if not i.is_dir() and i.filename.endswith(".json")]
        if len(members) > MAX_ADVISORY_FILES:
            raise BadInput(f"{source} holds more than {MAX_ADVISORY_FILES} records")
        for info in members:
            if info.file_size > limit:
                raise BadInput(
                    f"{source}:{info.filename} is too large ({info.file_size} bytes; the limit is {limit})"
                )
            try:
                with archive.open(info) as member:
                    data = member.read(limit + 1)  # never trust the header's size
            except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, zlib.error) as exc:
                raise BadInput(f"{source}:{info.filename} cannot be read: {str(exc)[:200]}") from None
            if len(data) > limit:
                raise BadInput(f"{source}:{info.filename} is larger than {limit} bytes")
            total += len(data)
            if total > MAX_ZIP_BYTES:
                raise BadInput(f"{source} expands to more than {MAX_ZIP_BYTES} bytes")
            yield f"{source}:{info.filename}", data


def _relevant(doc: Any, wanted: set[tuple[str, str]]) -> bool:
    """Whether an OSV record names one of the *wanted* (base ecosystem, normalised name) packages."""
    from forewarn.clearinghouse.inventory.names import normalise_name, split_ecosystem

    affected = doc.get("affected") if isinstance(doc, dict) else None
    for entry in affected if isinstance(affected, list) else ():
        package = entry.get("package") if isinstance(entry, dict) else None
        if (
            isinstance(package, dict)
            and isinstance(package.get("ecosystem"), str)
            and isinstance(package.get("name"), str)
        ):
            base = split_ecosystem(package["ecosystem"])[0]
            if (base, normalise_name(base, package["name"])) in wanted:
                return True
    return False


def load_advisories(source: Path, wanted: set[tuple[str, str]], *, skip_invalid: bool) -> _Loaded:
    """The OSV records in *source* that name a *wanted* package, each validated by the OSV codec.

    Records about other packages are not validated (they cannot affect the result); an invalid
    relevant record is bad input unless *skip_invalid*, in which case it is listed in ``skipped``.
    """
    from forewarn.clearinghouse.advisories.errors import InvalidAdvisory
    from forewarn.clearinghouse.advisories.osv import loads_osv
    from forewarn.clearinghouse.advisories.schemas import MAX_DOCUMENT_BYTES

    loaded = _Loaded([], 0, [])
    for name, data in _records(source, MAX_DOCUMENT_BYTES):
        loaded.files += 1
        try:
            doc = json.loads(data)
        except ValueError as exc:
            if skip_invalid:
                loaded.skipped.append(f"{name}: not JSON")
                continue
            raise BadInput(f"advisory {name} is not JSON: {str(exc)[:200]}") from None
        if not _relevant(doc, wanted):
            continue
        try:
            loaded.advisories.append(loads_osv(data))
        except InvalidAdvisory as exc:
            if skip_invalid:
                loaded.skipped.append(f"{name}: {exc}")
                continue
            raise BadInput(f"advisory {name}: {str(exc)[:500]}") from None
    return loaded


def _vex_statements(paths: list[Path], inventory_raw: bytes, inventory: Inventory) -> list[VexStatement]:
    from forewarn.clearinghouse.advisories.csaf import loads_csaf
    from forewarn.clearinghouse.inventory.sbom import load_json
    from forewarn.clearinghouse.inventory.schemas import SbomFormat
    from forewarn.clearinghouse.matching.vex import MAX_VEX_BYTES, from_cyclonedx, parse_vex
    from forewarn.core.errors import ForewarnError

    def read_csaf(raw: bytes) -> tuple[Any, Any]:
        document = loads_csaf(raw)
        return document.publication, document.advisories

    statements: list[VexStatement] = []
    if inventory.format is SbomFormat.CYCLONEDX_JSON:
        text = inventory_raw.decode("utf-8").removeprefix("\ufeff")
        doc = load_json(text, what="SBOM")
        if doc.get("vulnerabilities"):
            try:
                statements.extend(from_cyclonedx(doc, text=text))  # VEX embedded in the SBOM
            except ForewarnError as exc:
                raise BadInput(f"VEX in the SBOM: {exc}") from None
    for path in paths:
        raw = _read_file(path, MAX_VEX_BYTES, "VEX document")
        try:
            statements.extend(parse_vex(raw, read_csaf=read_csaf))
        except ForewarnError as exc:
            raise BadInput(f"VEX document {path}: {exc}") from None
    return statements


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def _package(component: Component) -> dict[str, str | None]:
    return {
        "ecosystem": component.ecosystem,
        "name": component.package or component.name,
        "version": component.version,
        "purl": component.purl,
    }


def report_json(inventory: Inventory, report: MatchReport[Component]) -> dict[str, Any]:
    """The ``--json`` document: ``{"results": [...], "unscannable": [...]}`` (one shape with the server's
    scan, :mod:`forewarn.clearinghouse.matching.report`)."""
    from forewarn.clearinghouse.matching.report import report_json as build

    return build(inventory, report)


def _print_table(
    source: Path, inventory: Inventory, report: MatchReport[Component], loaded: _Loaded, vex_count: int
) -> None:
    from rich.markup import escape
    from rich.table import Table

    spec = f" {inventory.spec_version}" if inventory.spec_version else ""
    console.print(
        f"Scanned [bold]{escape(source.name)}[/bold] ({inventory.format.value}{spec}): "
        f"{len(inventory.components)} components against {len(loaded.advisories)} relevant advisories "
        f"(of {loaded.files} records)" + (f", {vex_count} VEX statements" if vex_count else "")
    )
    if report.matches:
        table = Table(title="Affected components", title_justify="left")
        for column in ("Package", "Version", "Ecosystem", "Advisories", "Fixed in"):
            table.add_column(column)
        rows: dict[tuple[str, str, str], tuple[set[str], list[str]]] = {}
        for found in report.matches:
            c = found.component
            key = (c.display().rpartition("@")[0] or c.package or "", c.version or "", c.ecosystem or "")
            ids, fixes = rows.setdefault(key, (set(), []))
            ids.add(found.advisory.id)
            fixes.extend(f for f in found.fixed[:1] if f not in fixes)
        for (name, version, ecosystem), (ids, fixes) in sorted(rows.items()):
            table.add_row(
                escape(name),
                escape(version),
                escape(ecosystem),
                escape(", ".join(sorted(ids))),
                escape(", ".join(fixes)),
            )
        console.print(table)
    else:
        console.print("[green]No known vulnerabilities in the scanned components.[/green]")
    for found in report.suppressed:
        statement = found.vex
        why = (statement.justification or statement.impact or statement.status.value) if statement else ""
        console.print(
            f"Suppressed by VEX: {escape(found.advisory.id)} on {escape(found.component.display())} "
            f"({escape(statement.status.value if statement else '')}: {escape(why[:120])})"
        )
    not_scanned = [(u.component, u.reason) for u in inventory.unscannable] + [
        (u.component, f"{u.advisory_id} could not be evaluated: {u.reason}") for u in report.undetermined
    ]
    if not_scanned:
        console.print(f"Not scanned ({len(not_scanned)}):")
        for component, reason in not_scanned[:TABLE_UNSCANNABLE]:
            console.print(
                f"  {escape(component.display())} [dim]{escape(component.location)}[/dim]: {escape(reason)}"
            )
        if len(not_scanned) > TABLE_UNSCANNABLE:
            console.print(f"  … and {len(not_scanned) - TABLE_UNSCANNABLE} more (--json lists them all)")
    if report.matches:
        affected = len({id(m.component) for m in report.matches})
        console.print(f"[bold red]{affected} affected component(s).[/bold red]")


# --------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------


def _print_remote_table(source: Path, doc: dict[str, Any], server: str) -> None:
    """The offline table, from the server's answer (``ScanOut``)."""
    from rich.markup import escape
    from rich.table import Table

    spec = f" {doc['spec_version']}" if doc.get("spec_version") else ""
    console.print(
        f"Scanned [bold]{escape(source.name)}[/bold] ({escape(str(doc['format']))}{escape(spec)}): "
        f"{doc['components']} components against {doc['advisories']} published advisories "
        f"of {escape(server)}"
    )
    results = doc["results"]
    if results:
        table = Table(title="Affected components", title_justify="left")
        for column in ("Package", "Version", "Ecosystem", "Advisories", "Fixed in"):
            table.add_column(column)
        for r in results:
            p = r["package"]
            table.add_row(
                escape(p["name"] or ""),
                escape(p["version"] or ""),
                escape(p["ecosystem"] or ""),
                escape(", ".join(r["advisories"])),
                escape(", ".join(r.get("fixed") or ())),
            )
        console.print(table)
    else:
        console.print("[green]No known vulnerabilities in the scanned components.[/green]")
    for found in doc.get("suppressed") or ():
        p = found["package"]
        shown = f"{p['name']}@{p['version']}"
        console.print(
            f"Suppressed by VEX: {escape(found['advisory'])} on {escape(shown)} "
            f"({escape(found['status'])}: {escape(found['reason'][:120])})"
        )
    not_scanned = doc["unscannable"]
    if not_scanned:
        console.print(f"Not scanned ({len(not_scanned)}):")
        for u in not_scanned[:TABLE_UNSCANNABLE]:
            p = u["package"]
            name = p["name"] or p["purl"] or "(unnamed)"
            shown = f"{name}@{p['version']}" if p["version"] else name
            console.print(f"  {escape(shown)} [dim]{escape(u['location'])}[/dim]: {escape(u['reason'])}")
        if len(not_scanned) > TABLE_UNSCANNABLE:
            console.print(f"  … and {len(not_scanned) - TABLE_UNSCANNABLE} more (--json lists them all)")
    if results:
        console.print(f"[bold red]{len(results)} affected component(s).[/bold red]")


def _scan_remote(sbom: Path, server: str, token: str | None, *, as_json: bool) -> int:
    """Ask *server*'s ``POST /api/v1/scan``; print as offline; the exit status."""
    import httpx

    from forewarn.clearinghouse.inventory.sbom import MAX_SBOM_BYTES

    if not token:
        raise _fail("--server needs --token TOKEN (or FOREWARN_TOKEN): an API token of your organisation")
    if not server.startswith(("https://", "http://")):
        raise _fail(f"--server {server[:100]!r} is not an http(s) URL")
    try:
        raw = _read_file(sbom, MAX_SBOM_BYTES, "SBOM")
    except BadInput as exc:
        raise _fail(str(exc)) from None
    url = server.rstrip("/") + "/api/v1/scan"
    try:
        response = httpx.post(
            url,
            content=raw,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
            timeout=300,
        )
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {server}: {type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise _fail(f"{server} refused the token (HTTP {response.status_code})")
    if not response.is_success:
        detail = f"HTTP {response.status_code}"
        try:
            body = response.json()
            detail = str(body.get("detail") or detail)
            problems = "; ".join(
                f"{p['field']}: {p['message']}" if p.get("field") else str(p["message"])
                for p in body.get("problems") or ()
            )
            detail += f": {problems}" if problems else ""
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        what = f"SBOM {sbom}" if response.status_code in (413, 422) else str(server)
        raise _fail(f"{what}: {detail[:1000]}")
    doc = response.json()
    if as_json:
        results = [{"package": r["package"], "advisories": r["advisories"]} for r in doc["results"]]
        print(
            json.dumps({"results": results, "unscannable": doc["unscannable"]}, indent=2, ensure_ascii=False)
        )
    else:
        _print_remote_table(sbom, doc, server)
    return 1 if doc["results"] else 0


def _fail(message: str) -> typer.Exit:
    err_console.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
    return typer.Exit(2)


def scan(
    sbom: Annotated[
        Path,
        typer.Argument(
            metavar="SBOM_FILE",
            help="The SBOM: CycloneDX 1.4-1.6 (JSON or XML), SPDX 2.2/2.3 JSON, or a CSV product list.",
        ),
    ],
    advisories: Annotated[
        Path | None,
        typer.Option(
            "--advisories", metavar="PATH", help="A folder or .zip of OSV JSON records (no server needed)."
        ),
    ] = None,
    vex: Annotated[
        list[Path] | None,
        typer.Option(
            "--vex", metavar="FILE", help="A VEX document (CycloneDX, OpenVEX or CSAF) to apply; repeatable."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid-advisories", help="Warn about invalid OSV records instead of failing."),
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="FOREWARN_SERVER",
            metavar="URL",
            help="Ask this forewarn server instead of --advisories (the SBOM is matched, not stored).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="FOREWARN_TOKEN", metavar="TOKEN", help="API token for --server."),
    ] = None,
) -> None:
    """Match an SBOM against OSV advisories offline.

    Exit status: 0 when nothing is affected, 1 when something is, 2 on bad input.
    """
    from forewarn.clearinghouse.inventory.names import split_ecosystem
    from forewarn.clearinghouse.inventory.sbom import MAX_SBOM_BYTES, parse_sbom
    from forewarn.clearinghouse.matching.engine import AdvisoryIndex, match_components
    from forewarn.clearinghouse.matching.vex import VexIndex
    from forewarn.core.errors import ForewarnError

    if advisories is None:
        if server:
            if vex:
                raise _fail("--vex is applied offline only; with --server, embed CycloneDX VEX in the SBOM")
            raise typer.Exit(_scan_remote(sbom, server, token, as_json=as_json))
        raise _fail("give --advisories PATH (a folder or zip of OSV JSON records)")
    try:
        raw = _read_file(sbom, MAX_SBOM_BYTES, "SBOM")
        try:
            inventory = parse_sbom(raw)
        except ForewarnError as exc:
            raise BadInput(f"SBOM {sbom}: {exc}") from None
        wanted: set[tuple[str, str]] = set()
        for component in inventory.components:
            base = split_ecosystem(component.ecosystem or "")[0]
            wanted.add((base, component.package or ""))
            if component.source_package:
                wanted.add((base, component.source_package))
        loaded = load_advisories(advisories, wanted, skip_invalid=skip_invalid)
        statements = _vex_statements(list(vex or ()), raw, inventory)
    except BadInput as exc:
        raise _fail(str(exc)) from None
    index = AdvisoryIndex.build(loaded.advisories)
    report = match_components(index, inventory.components, vex=VexIndex(statements) if statements else None)
    for skipped in loaded.skipped[:5]:
        err_console.print(
            f"warning: skipped invalid advisory {skipped[:300]}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if len(loaded.skipped) > 5:
        err_console.print(
            f"warning: … and {len(loaded.skipped) - 5} more invalid advisories", highlight=False
        )
    if as_json:
        print(json.dumps(report_json(inventory, report), indent=2, ensure_ascii=False))
    else:
        _print_table(sbom, inventory, report, loaded, len(statements))
    raise typer.Exit(1 if report.affected else 0)
