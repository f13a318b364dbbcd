"""One agent run: refresh the signed feed, scan the SBOMs, fetch verified patches, report statuses.

Exit statuses of a run (``forewarn agent run``): 0 nothing affected, 1 something affected, 2 bad
input (settings, an SBOM), 3 the feed was refused (tampered, expired, unsigned, unreachable), 4 the
server did not accept the report.

What is reported: for each match the server holds on an asset the agent scanned (an asset is named
after its SBOM file), about an advisory the agent holds verified —

- still open (open, acknowledged, in progress) but the component is no longer in the SBOM at that
  version: marked ``fixed``, with a note naming the file and the time of the scan;
- marked ``fixed`` but the component is still there: reopened (``open``), with a note.

Statuses people chose (not affected, risk accepted) are left alone. With ``upload`` the SBOM is sent
first, so the server matches it too (new matches and notices); without, the SBOM stays here.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from forewarn.agent.config import AgentConfig, AgentError
from forewarn.agent.feed import Feed

SBOM_SUFFIXES = (".json", ".xml", ".csv")
OPEN_STATUSES = frozenset({"open", "acknowledged", "in_progress"})
REPORT_FAILED = 4
_ASSET_SUFFIX = re.compile(r"(\.(cdx|spdx|bom|sbom))?\.(json|xml|csv)$", re.IGNORECASE)


@dataclass
class Affected:
    advisory: str
    ecosystem: str
    package: str
    version: str
    fixed: list[str]
    #: Verified patch files fetched for this advisory (local paths).
    patches: list[str] = field(default_factory=list)


@dataclass
class AssetResult:
    asset: str
    source: str
    components: int
    unscannable: int
    affected: list[Affected]


@dataclass
class Scanned:
    """One SBOM as scanned: the result, its bytes, the matches found, and every component identity
    (ecosystem, package, version) it lists — found affected or not."""

    result: AssetResult
    raw: bytes
    matched: set[tuple[str, str, str, str]]
    identities: set[tuple[str, str, str]]


@dataclass
class Reported:
    match_id: str
    asset: str
    advisory: str
    status: str
    note: str


@dataclass
class RunResult:
    at: str
    snapshot_version: int
    advisories: int
    assets: list[AssetResult] = field(default_factory=list)
    reported: list[Reported] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def affected(self) -> bool:
        return any(a.affected for a in self.assets)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        return 1 if self.affected else 0


def parse_every(value: str) -> timedelta:
    """``90s``, ``30m``, ``1h``, ``1d`` → a period (at least one second)."""
    found = re.fullmatch(r"\s*([1-9][0-9]{0,5})\s*([smhd])\s*", value)
    if not found:
        raise AgentError(f"--every takes a period like 30m, 1h or 1d, not {value!r}")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[found[2]]
    return timedelta(**{unit: int(found[1])})


def asset_name(path: Path) -> str:
    return _ASSET_SUFFIX.sub("", path.name)[:200] or path.name[:200]


def sbom_files(paths: Iterable[str]) -> list[Path]:
    """The SBOM files named (a folder: every .json, .xml and .csv file in it, recursively)."""
    files: list[Path] = []
    for each in paths:
        path = Path(each)
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in SBOM_SUFFIXES
            )
        elif path.is_file():
            files.append(path)
        else:
            raise AgentError(f"SBOM {path}: no such file or folder")
    if not files:
        raise AgentError("no SBOM to scan: give SBOM files or folders (forewarn agent init --sbom PATH)")
    return files


def _scan(
    feed: Feed, index: Any, path: Path, manifests: dict[str, dict[str, Any]], errors: list[str]
) -> Scanned | None:
    from forewarn.clearinghouse.inventory.sbom import MAX_SBOM_BYTES, parse_sbom
    from forewarn.clearinghouse.matching.engine import match_components
    from forewarn.core.errors import ForewarnError

    try:
        if path.stat().st_size > MAX_SBOM_BYTES:
            errors.append(f"SBOM {path} is larger than {MAX_SBOM_BYTES} bytes; not scanned")
            return None
        raw = path.read_bytes()
        inventory = parse_sbom(raw)
    except (OSError, ForewarnError) as exc:
        errors.append(f"SBOM {path}: {str(exc)[:500]}; not scanned")
        return None
    report = match_components(index, inventory.components)
    found: dict[tuple[str, str, str, str], Affected] = {}
    for match in report.matches:
        c = match.component
        key = (match.advisory.id, c.ecosystem or "", c.package or "", c.version or "")
        if key in found:
            continue
        affected = Affected(*key, fixed=list(match.fixed))
        manifest = manifests.get(match.advisory.id)
        if manifest is None:
            target = f"advisories/{match.advisory.id}/manifest.json"
            manifest = manifests[match.advisory.id] = json.loads(feed.fetch(target))
        for patch in manifest.get("patches") or ():
            feed.fetch(patch["target"])  # verified against the signed targets metadata
            affected.patches.append(str(feed.config.targets_dir / patch["target"]))
        found[key] = affected
    result = AssetResult(
        asset=asset_name(path),
        source=str(path),
        components=len(inventory.components),
        unscannable=len(inventory.unscannable),
        affected=list(found.values()),
    )
    identities = {
        (c.ecosystem or "", c.package or "", c.version or "") for c in inventory.components if c.package
    }
    return Scanned(result, raw, set(found), identities)


def http_client(config: AgentConfig) -> Any:
    import httpx

    return httpx.Client(
        base_url=config.server,
        headers={"Authorization": f"Bearer {config.token()}", "User-Agent": "forewarn-agent"},
        timeout=60,
    )


def check_response(response: Any, what: str) -> Any:
    if response.status_code == 401:
        raise AgentError(
            f"{what}: the server refused the token (expired or revoked?)", exit_code=REPORT_FAILED
        )
    if response.status_code == 403:
        raise AgentError(f"{what}: the token is not an operator contact's token", exit_code=REPORT_FAILED)
    if not response.is_success:
        detail = ""
        with contextlib.suppress(ValueError):
            detail = str(response.json().get("detail", ""))[:300]
        raise AgentError(
            f"{what}: the server answered {response.status_code} {detail}", exit_code=REPORT_FAILED
        )
    return response.json()


def _decide(
    match: dict[str, Any], scanned: dict[str, Scanned], known: set[str], at: str
) -> tuple[str, str] | None:
    """The status to report for one of the server's matches, with its note; None: nothing to say.

    ``fixed`` only when the component is gone from the SBOM at that version (not merely unmatched:
    a component the scan could not evaluate is still there); ``open`` again only when the verified
    scan itself finds the match.
    """
    if match["asset_name"] not in scanned or match["advisory_id"] not in known:
        return None  # an asset this agent did not scan, or an advisory it does not hold verified
    sbom = scanned[match["asset_name"]]
    identity = (match["ecosystem"], match["package"], match["version"])
    what = f"forewarn agent: {match['package']} {match['version']}"
    source = Path(sbom.result.source).name
    if identity not in sbom.identities and match["status"] in OPEN_STATUSES:
        return "fixed", f"{what} is no longer in {source} (scanned {at})"
    if (match["advisory_id"], *identity) in sbom.matched and match["status"] == "fixed":
        return "open", f"{what} is still in {source} (scanned {at})"
    return None


def run_once(config: AgentConfig, *, sboms: list[str] | None = None, upload: bool = False) -> RunResult:
    """One cycle; raises :class:`AgentError` when the feed is refused or the server refuses the report."""
    import httpx

    from forewarn.clearinghouse.advisories.errors import InvalidAdvisory
    from forewarn.clearinghouse.advisories.osv import loads_osv
    from forewarn.clearinghouse.matching.engine import AdvisoryIndex

    files = sbom_files(sboms or config.sboms)
    feed = Feed(config)
    synced = feed.refresh()
    now = datetime.now(UTC).replace(microsecond=0)
    result = RunResult(
        at=now.isoformat().replace("+00:00", "Z"), snapshot_version=synced.snapshot_version, advisories=0
    )
    advisories = []
    for path in synced.paths:
        if path.startswith("advisories/") and path.endswith("/osv.json"):
            try:
                advisories.append(loads_osv(feed.fetch(path)))
            except InvalidAdvisory as exc:
                result.errors.append(
                    f"the feed's {path} is signed but not a valid OSV record: {str(exc)[:300]}"
                )
    result.advisories = len(advisories)
    index = AdvisoryIndex.build(advisories)
    manifests: dict[str, dict[str, Any]] = {}
    scanned: dict[str, Scanned] = {}
    for sbom in files:
        done = _scan(feed, index, sbom, manifests, result.errors)
        if done is None:
            continue
        if done.result.asset in scanned:
            result.errors.append(
                f"SBOM {sbom}: another SBOM is already named asset {done.result.asset!r}; not scanned"
            )
            continue
        scanned[done.result.asset] = done
        result.assets.append(done.result)
    known = {a.id for a in advisories}
    try:
        with http_client(config) as http:
            for asset, done in scanned.items() if upload else ():
                check_response(
                    http.post(f"/api/v1/operator/assets/{quote(asset, safe='')}/sbom", content=done.raw),
                    f"uploading {asset}",
                )
                result.uploaded.append(asset)
            matches = check_response(http.get("/api/v1/operator/matches"), "reading your matches")
            for match in matches:
                decided = _decide(match, scanned, known, result.at)
                if decided is None:
                    continue
                status, note = decided
                check_response(
                    http.post(
                        f"/api/v1/operator/matches/{match['id']}/status",
                        json={"status": status, "note": note},
                    ),
                    f"reporting match {match['id']}",
                )
                result.reported.append(
                    Reported(match["id"], match["asset_name"], match["advisory_id"], status, note)
                )
    except httpx.HTTPError as exc:
        raise AgentError(
            f"could not reach {config.server} to report: {str(exc)[:300]}", exit_code=REPORT_FAILED
        ) from None
    (config.folder / "last-run.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def run_every(
    config: AgentConfig,
    *,
    every: timedelta,
    runs: int | None,
    on_result: Callable[[RunResult | AgentError], None],
    sboms: list[str] | None = None,
    upload: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run on a schedule. A refused feed or report is told (``on_result``) and retried next time;
    it never stops the schedule, and nothing from a refused run is used."""
    count = 0
    while runs is None or count < runs:
        started = time.monotonic()
        try:
            on_result(run_once(config, sboms=sboms, upload=upload))
        except AgentError as exc:
            on_result(exc)
        count += 1
        if runs is not None and count >= runs:
            return
        sleep(max(0.0, every.total_seconds() - (time.monotonic() - started)))
