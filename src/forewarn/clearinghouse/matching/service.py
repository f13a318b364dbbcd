"""Matching in the database: published advisories against operators' stored inventories.

Invariants:

- evaluation is the pure engine's (:func:`~.engine.match_components`, OSV §Evaluation): each
  distinct (ecosystem, name, version) is evaluated once per run, however many components share it;
- a new or revised advisory finds its candidate components through the (base ecosystem, package) and
  (base ecosystem, source package) indexes on components (:func:`~.engine.package_keys`), never by
  scanning every inventory; its distinct identities are evaluated in Python and its matches written
  by set-based statements (new ones by one ``INSERT … SELECT``), so a popular package's publication
  does not move every component through Python;
- a new SBOM is matched against every published advisory, through the process's advisory index
  (:func:`advisory_index`, rebuilt when a newer publication or revision exists);
- one match per (asset, advisory, ecosystem, package, version); a match found again keeps the
  operator's status. A revision that leaves the remediation unchanged (fixed versions and
  remediations) neither reopens a match nor moves ``alerted_at`` (CSAF 2.0 §9.1.17: a revision that
  does not change what to do is not news); one that changes it reopens a match marked ``fixed``;
- a match its advisory no longer finds (the range narrowed, the record was withdrawn) is removed; a
  match whose component left the asset's inventory is marked ``fixed``;
- an operator reads and sets only its own organisation's matches (tenancy); analysts see exposure
  counts, never another organisation's inventory.

Services never commit: the entry point owns the transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories import policy as advisories_policy
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.advisories.schemas import Advisory, Publication
from forewarn.clearinghouse.inventory import policy as inventory_policy
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.inventory.records import ComponentOut, PackageIdentity
from forewarn.clearinghouse.matching import policy
from forewarn.clearinghouse.matching.engine import AdvisoryIndex, Match, match_components, package_keys
from forewarn.clearinghouse.matching.models import ExposureSnapshot
from forewarn.clearinghouse.matching.models import Match as MatchRow
from forewarn.clearinghouse.matching.records import (
    OPEN_STATUSES,
    Exposure,
    ExposureHistory,
    ExposureRow,
    Justification,
    MatchOut,
    MatchStatus,
    RemediationRow,
    ScanOut,
    StatusIn,
    VexFormat,
    VexImportOut,
    VexSkipped,
)
from forewarn.core.clock import utcnow
from forewarn.core.errors import Forbidden, NotFound

__all__ = [
    "MATCH_ADVISORY_TASK",
    "advisory_index",
    "export_vex",
    "exposure",
    "exposure_history",
    "import_vex",
    "list_matches",
    "match_advisory",
    "match_asset",
    "published_advisories",
    "remediation_times",
    "scan",
    "set_status",
    "snapshot_exposure",
]

#: The job publication enqueues by name (advisories hand work up; DESIGN §3).
MATCH_ADVISORY_TASK = "matching:match_advisory"

_RATING_ORDER = {"CRITICAL": 4, "HIGH": 3, "MEDIUM": 2, "LOW": 1, "NONE": 0}


# --------------------------------------------------------------------------------------------------
# Advisories as matching reads them
# --------------------------------------------------------------------------------------------------


async def published_advisories(session: AsyncSession) -> list[Advisory]:
    """Every advisory the clearinghouse published, as the internal model."""
    from forewarn.clearinghouse.advisories.osv import from_osv

    return [from_osv(record) for record in await advisories.osv_records(session)]


#: The process's advisory index and the newest publication it includes (id, modified).
_INDEX: dict[str, tuple[tuple[str, datetime] | None, AdvisoryIndex]] = {}


async def advisory_index(session: AsyncSession) -> AdvisoryIndex:
    """Every published advisory, indexed; rebuilt only when a newer publication or revision exists.

    Publishing and revising both set ``modified`` to the time of publication, so the newest
    (``modified``, id) changes whenever the set of published advisories does. A publication that
    commits after an upload's index was read is still matched against that upload by its own
    ``matching:match_advisory`` job (which reads the committed components).
    """
    newest = await advisories.list_public(session, limit=1)
    signature = (newest[0].id, newest[0].modified) if newest else None
    cached = _INDEX.get("published")
    if cached is not None and cached[0] == signature:
        return cached[1]
    index = AdvisoryIndex.build(await published_advisories(session))
    index.rank_all()
    _INDEX["published"] = (signature, index)
    return index


async def _published_advisory(session: AsyncSession, advisory_id: str) -> Advisory | None:
    from forewarn.clearinghouse.advisories.osv import from_osv

    try:
        return from_osv(await advisories.public_osv(session, advisory_id=advisory_id))
    except NotFound:
        return None


def _severity(advisory: Advisory) -> tuple[float | None, str | None]:
    scored = [sev for sev in advisory.severities if sev.base_score is not None]
    scored += [sev for a in advisory.affected for sev in a.severities if sev.base_score is not None]
    if scored:
        best = max(scored, key=lambda sev: sev.base_score or 0.0)
        return best.base_score, best.rating.value if best.rating else None
    rated = [sev.rating.value for sev in advisory.severities if sev.rating is not None]
    return None, (max(rated, key=lambda r: _RATING_ORDER.get(r, 0)) if rated else None)


async def _known_exploited(session: AsyncSession, advisory_ids: Iterable[Advisory]) -> set[str]:
    """Ids of the advisories with a CVE alias in the CISA KEV catalogue the clearinghouse imported.

    Read by table name (``ch_kev_entries``): the advisories service has no public reader for it yet.
    """
    cves: dict[str, str] = {}
    for advisory in advisory_ids:
        for alias in (advisory.id, *advisory.aliases):
            if alias.startswith("CVE-"):
                cves[alias] = advisory.id
    if not cves:
        return set()
    rows = await session.execute(
        text("SELECT cve_id FROM ch_kev_entries WHERE cve_id = ANY(:ids)"), {"ids": list(cves)}
    )
    return {cves[r[0]] for r in rows}


def _remediation(advisory: Advisory, fixed: Sequence[str]) -> str:
    """Digest of what the advisory tells this package's users to do (CSAF §9.1.17)."""
    payload = {
        "fixed": list(fixed),
        "remediations": [
            {"category": r.category.value, "details": r.details, "url": r.url} for r in advisory.remediations
        ],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# Recording matches
# --------------------------------------------------------------------------------------------------


def _key(asset_id: uuid.UUID, advisory_id: str, c: ComponentOut) -> tuple[uuid.UUID, str, str, str, str]:
    return (asset_id, advisory_id, c.ecosystem, c.package, c.version)


async def _record(
    session: AsyncSession, found: Sequence[Match[ComponentOut]], existing: Sequence[MatchRow]
) -> tuple[int, set[tuple[uuid.UUID, str, str, str, str]]]:
    """Insert new matches and refresh known ones; returns (new or reopened, keys seen)."""
    now = utcnow()
    held = {(m.asset_id, m.advisory_id, m.ecosystem, m.package, m.version): m for m in existing}
    exploited = await _known_exploited(session, {m.advisory.id: m.advisory for m in found}.values())
    seen: set[tuple[uuid.UUID, str, str, str, str]] = set()
    fresh: list[dict[str, object]] = []
    severities: dict[str, tuple[float | None, str | None]] = {}
    remediations: dict[tuple[str, tuple[str, ...]], str] = {}
    alerted = 0
    for m in found:
        c = m.component
        key = _key(c.asset_id, m.advisory.id, c)
        if key in seen:
            continue  # another component of the asset with the same identity
        seen.add(key)
        if m.advisory.id not in severities:
            severities[m.advisory.id] = _severity(m.advisory)
        score, rating = severities[m.advisory.id]
        if (m.advisory.id, m.fixed) not in remediations:
            remediations[(m.advisory.id, m.fixed)] = _remediation(m.advisory, m.fixed)
        remediation = remediations[(m.advisory.id, m.fixed)]
        values = {
            "summary": m.advisory.summary,
            "fixed": list(m.fixed),
            "severity_score": score,
            "severity_rating": rating,
            "known_exploited": m.advisory.id in exploited,
            "via": m.via,
            "purl": c.purl,
            "component_name": c.name or c.package,
        }
        row = held.get(key)
        if row is None:
            fresh.append(
                {
                    "id": uuid.uuid4(),
                    "organisation_id": c.organisation_id,
                    "asset_id": c.asset_id,
                    "advisory_id": m.advisory.id,
                    "ecosystem": c.ecosystem,
                    "package": c.package,
                    "version": c.version,
                    "remediation": remediation,
                    "status": MatchStatus.OPEN.value,
                    "justification": None,
                    "note": None,
                    "alerted_at": now,
                    "status_changed_at": now,
                    "created_at": now,
                    **values,
                }
            )
            continue
        for name, value in values.items():
            setattr(row, name, value)
        if row.remediation != remediation:
            row.remediation = remediation
            row.alerted_at = now
            alerted += 1
            if row.status == MatchStatus.FIXED.value:
                row.status = MatchStatus.OPEN.value
                row.status_changed_at = now
                row.note = "Reopened: the advisory's remediation changed."
    if fresh:  # one statement for every new match, its rows as arrays (one round trip, one plan)
        columns = {
            "id": "id",
            "org": "organisation_id",
            "asset": "asset_id",
            "advisory": "advisory_id",
            "eco": "ecosystem",
            "pkg": "package",
            "ver": "version",
            "cname": "component_name",
            "purl": "purl",
            "via": "via",
            "remediation": "remediation",
            "summary": "summary",
            "score": "severity_score",
            "rating": "severity_rating",
            "kev": "known_exploited",
        }
        params: dict[str, object] = {name: [row[column] for row in fresh] for name, column in columns.items()}
        params["fixed"] = [json.dumps(row["fixed"]) for row in fresh]
        params["now"] = now
        await session.execute(text(_INSERT_FRESH), params)
    return alerted + len(fresh), seen


_INSERT_FRESH = (
    "INSERT INTO ch_matches (id, organisation_id, asset_id, advisory_id, ecosystem, package, version,"
    " component_name, purl, via, fixed, remediation, summary, severity_score, severity_rating,"
    " known_exploited, status, alerted_at, status_changed_at, created_at)"
    " SELECT r.id, r.org, r.asset, r.advisory, r.eco, r.pkg, r.ver, r.cname, r.purl, r.via,"
    " ARRAY(SELECT jsonb_array_elements_text(CAST(r.fixed AS jsonb))), r.remediation, r.summary, r.score,"
    " r.rating, r.kev, 'open', :now, :now, :now"
    " FROM unnest(CAST(:id AS uuid[]), CAST(:org AS uuid[]), CAST(:asset AS uuid[]),"
    " CAST(:advisory AS text[]), CAST(:eco AS text[]), CAST(:pkg AS text[]), CAST(:ver AS text[]),"
    " CAST(:cname AS text[]), CAST(:purl AS text[]), CAST(:via AS text[]), CAST(:fixed AS text[]),"
    " CAST(:remediation AS text[]), CAST(:summary AS text[]), CAST(:score AS float8[]),"
    " CAST(:rating AS text[]), CAST(:kev AS boolean[]))"
    " AS r(id, org, asset, advisory, eco, pkg, ver, cname, purl, via, fixed, remediation, summary, score,"
    " rating, kev)"
    " ON CONFLICT ON CONSTRAINT uq_ch_matches_identity DO NOTHING"
)


_UNNEST = (
    "unnest(CAST(:base AS text[]), CAST(:eco AS text[]), CAST(:pkg AS text[]), CAST(:ver AS text[]),"
    " CAST(:spkg AS text[]), CAST(:sver AS text[]), CAST(:via AS text[]), CAST(:fixed AS text[]),"
    " CAST(:remediation AS text[])) AS v(base, eco, pkg, ver, spkg, sver, via, fixed, remediation)"
)

_CAND = (
    "SELECT c.asset_id, c.organisation_id, c.ecosystem, c.package, c.version, c.name, c.purl,"
    " c.source_package, c.source_version FROM k"
    " JOIN ch_components c ON c.base_ecosystem = k.base AND c.package = k.pkg AND c.version = k.ver"
)

# New matches, one statement: every component with an affected identity, one row per (asset, identity).
# Reads inventory's ``ch_components`` by table name (as cross-domain foreign keys do): the set-based
# form is what keeps a popular package's publication in the database instead of in Python.
_INSERT = (
    # The candidates are the components at an affected (base ecosystem, package, version), read from
    # inventory's covering index alone (index-only scans: the columns below are all it holds) or,
    # for the rare component too long for it, from the small index of long rows; then hash-joined
    # with the affected identities (source fields included), whose fixed versions are turned into
    # an array once each, not once per match.
    "WITH v AS MATERIALIZED (SELECT v.*, ARRAY(SELECT jsonb_array_elements_text(CAST(v.fixed AS jsonb)))"
    " AS fixed_versions FROM @UNNEST),"
    " k AS MATERIALIZED (SELECT DISTINCT v.base, v.pkg, v.ver FROM v),"
    " cand AS MATERIALIZED (@CAND WHERE @COMPACT UNION ALL @CAND WHERE NOT @COMPACT)"
    " INSERT INTO ch_matches (id, organisation_id, asset_id, advisory_id, ecosystem, package, version,"
    " component_name, purl, via, fixed, remediation, summary, severity_score, severity_rating,"
    " known_exploited, status, alerted_at, status_changed_at, created_at)"
    " SELECT DISTINCT ON (c.asset_id, c.ecosystem, c.package, c.version)"
    " gen_random_uuid(), c.organisation_id, c.asset_id, :advisory, c.ecosystem, c.package, c.version,"
    " COALESCE(c.name, c.package), c.purl, v.via,"
    " v.fixed_versions, v.remediation, :summary, :score, :rating, :kev, 'open', :now, :now, :now"
    " FROM cand c JOIN v ON c.package = v.pkg AND c.ecosystem = v.eco AND c.version = v.ver"
    " AND c.source_package IS NOT DISTINCT FROM v.spkg AND c.source_version IS NOT DISTINCT FROM v.sver"
    " ORDER BY c.asset_id, c.ecosystem, c.package, c.version"
    " ON CONFLICT ON CONSTRAINT uq_ch_matches_identity DO NOTHING"
).replace("@CAND", _CAND).replace("@COMPACT", inventory.compact("c")).replace("@UNNEST", _UNNEST)
# Known matches whose remediation changed: re-alert, and reopen those marked fixed (CSAF §9.1.17).
_REALERT = (
    "UPDATE ch_matches m SET remediation = v.remediation, alerted_at = :now,"
    " fixed = ARRAY(SELECT jsonb_array_elements_text(CAST(v.fixed AS jsonb))),"
    " status = CASE WHEN m.status = 'fixed' THEN 'open' ELSE m.status END,"
    " note = CASE WHEN m.status = 'fixed' THEN :reopened ELSE m.note END,"
    " status_changed_at = CASE WHEN m.status = 'fixed' THEN :now ELSE m.status_changed_at END"
    " FROM @UNNEST WHERE m.advisory_id = :advisory AND m.ecosystem = v.eco AND m.package = v.pkg"
    " AND m.version = v.ver AND m.remediation <> v.remediation"
).replace("@UNNEST", _UNNEST)
_REFRESH = (
    "UPDATE ch_matches SET summary = :summary, severity_score = :score, severity_rating = :rating,"
    " known_exploited = :kev WHERE advisory_id = :advisory"
)
# Matches the advisory no longer finds (range narrowed, package dropped, record withdrawn).
_STALE = (
    "DELETE FROM ch_matches m WHERE m.advisory_id = :advisory AND NOT EXISTS"
    " (SELECT 1 FROM @UNNEST WHERE v.eco = m.ecosystem AND v.pkg = m.package AND v.ver = m.version)"
).replace("@UNNEST", _UNNEST)


async def match_advisory(session: AsyncSession, *, advisory_id: str) -> int:
    """Find the components a published (new or revised) advisory affects; record the matches.

    The distinct identities its package keys find are evaluated once each (in Python, by the pure
    engine); new matches, re-alerts and removals are then one statement each, in the database.
    Returns how many matches are new or re-alerted (those that would be notified). Idempotent.
    """
    from forewarn.clearinghouse.inventory.names import split_ecosystem

    advisory = await _published_advisory(session, advisory_id)
    affected: list[Match[PackageIdentity]] = []
    if advisory is not None and advisory.withdrawn is None:
        identities = await inventory.identities_for_keys(session, keys=package_keys(advisory))
        affected = list(match_components(AdvisoryIndex.build([advisory]), identities).matches)
    columns: dict[str, list[str | None]] = {
        k: [] for k in ("base", "eco", "pkg", "ver", "spkg", "sver", "via", "fixed", "remediation")
    }
    for m in affected:
        c = m.component
        for name, value in (
            ("base", split_ecosystem(c.ecosystem)[0]),
            ("eco", c.ecosystem),
            ("pkg", c.package),
            ("ver", c.version),
            ("spkg", c.source_package),
            ("sver", c.source_version),
            ("via", m.via),
            ("fixed", json.dumps(list(m.fixed))),
            ("remediation", _remediation(m.advisory, m.fixed)),
        ):
            columns[name].append(value)
    params: dict[str, object] = {"advisory": advisory_id, "now": utcnow(), **columns}
    await session.flush()  # pending ORM changes first; the statements below bypass the ORM
    await session.execute(text(_STALE), params)
    session.expire_all()  # matches loaded before are re-read after these statements
    if not affected or advisory is None:
        return 0
    score, rating = _severity(advisory)
    kev = advisory.id in await _known_exploited(session, [advisory])
    params |= {"summary": advisory.summary, "score": score, "rating": rating, "kev": kev}
    await session.execute(text(_REFRESH), params)
    realerted = await session.execute(
        text(_REALERT), params | {"reopened": "Reopened: the advisory's remediation changed."}
    )
    inserted = await session.execute(text(_INSERT), params)
    return int(getattr(realerted, "rowcount", 0)) + int(getattr(inserted, "rowcount", 0))


async def match_asset(
    session: AsyncSession, *, asset_id: uuid.UUID, index: AdvisoryIndex | None = None
) -> int:
    """Match an asset's (new) inventory against every published advisory; returns open matches found.

    Matches of components no longer in the inventory are marked fixed.
    """
    if index is None:
        index = await advisory_index(session)
    components = await inventory.asset_components(session, asset_id=asset_id)
    report = match_components(index, components)
    existing = list(await session.scalars(select(MatchRow).where(MatchRow.asset_id == asset_id)))
    await _record(session, list(report.matches), existing)
    seen = {_key(m.component.asset_id, m.advisory.id, m.component) for m in report.matches}
    now = utcnow()
    for row in existing:
        key = (row.asset_id, row.advisory_id, row.ecosystem, row.package, row.version)
        if key not in seen and row.status != MatchStatus.FIXED.value:
            row.status = MatchStatus.FIXED.value
            row.justification = None
            row.note = "No longer in the asset's inventory."
            row.status_changed_at = now
    await session.flush()
    return len(seen)


# --------------------------------------------------------------------------------------------------
# What operators see and do
# --------------------------------------------------------------------------------------------------


def _what_to_do(row: MatchRow, asset_name: str) -> str:
    runs = f"You run {row.component_name.rsplit('@', 1)[0]} {row.version} on asset {asset_name}."
    if row.fixed:
        return f"{runs} Update to {row.fixed[0]}."
    return f"{runs} No fixed version is known yet: follow the advisory's mitigations."


def _priority(row: MatchOut) -> tuple[int, int, float, str]:
    return (
        0 if row.known_exploited else 1,
        -_RATING_ORDER.get(row.severity_rating or "", -1),
        -(row.severity_score or 0.0),
        row.advisory_id,
    )


def _own(actor: Principal) -> uuid.UUID:
    if not inventory_policy.is_operator(actor) or actor.organisation_id is None:
        raise Forbidden("only an operator organisation's contacts see its matches")
    return actor.organisation_id


async def _out(
    session: AsyncSession, rows: Sequence[MatchRow], org: uuid.UUID, actor: Principal
) -> list[MatchOut]:
    names = {a.id: a.name for a in await inventory.list_assets(session, actor=actor)}
    return [
        MatchOut(
            id=r.id,
            asset_id=r.asset_id,
            asset_name=names.get(r.asset_id, "?"),
            advisory_id=r.advisory_id,
            summary=r.summary,
            ecosystem=r.ecosystem,
            package=r.package,
            component=r.component_name,
            version=r.version,
            purl=r.purl,
            via=r.via,
            fixed=list(r.fixed),
            severity_score=r.severity_score,
            severity_rating=r.severity_rating,
            known_exploited=r.known_exploited,
            status=MatchStatus(r.status),
            justification=Justification(r.justification) if r.justification else None,
            note=r.note,
            alerted_at=r.alerted_at,
            status_changed_at=r.status_changed_at,
            what_to_do=_what_to_do(r, names.get(r.asset_id, "?")),
        )
        for r in rows
        if r.organisation_id == org
    ]


async def list_matches(session: AsyncSession, *, actor: Principal, open_only: bool = False) -> list[MatchOut]:
    """The caller's organisation's matches, by priority: known exploited first, then severity."""
    org = _own(actor)
    query = select(MatchRow).where(MatchRow.organisation_id == org)
    if open_only:
        query = query.where(MatchRow.status.in_([s.value for s in OPEN_STATUSES]))
    rows = list(await session.scalars(query))
    return sorted(await _out(session, rows, org, actor), key=_priority)


async def set_status(
    session: AsyncSession, *, match_id: uuid.UUID, data: StatusIn, actor: Principal
) -> MatchOut:
    """Set one of the caller's matches' status (another organisation's match is not found)."""
    org = _own(actor)
    row = await session.get(MatchRow, match_id, with_for_update=True)
    if row is None or row.organisation_id != org:
        raise NotFound("no such match")
    row.status = data.status.value
    row.justification = data.justification.value if data.justification else None
    row.note = data.note
    row.status_changed_at = utcnow()
    await session.flush()
    (out,) = await _out(session, [row], org, actor)
    return out


# --------------------------------------------------------------------------------------------------
# The clearinghouse's view
# --------------------------------------------------------------------------------------------------


async def exposure(session: AsyncSession, *, actor: Principal) -> Exposure:
    """Per advisory: affected operators by sector, and matches by status (analysts only)."""
    if not advisories_policy.is_analyst(actor):
        raise Forbidden("only clearinghouse analysts see sector-wide exposure")
    rows = (
        await session.execute(
            select(
                MatchRow.advisory_id,
                MatchRow.organisation_id,
                MatchRow.status,
                func.count(),
                func.max(MatchRow.summary),
                func.max(MatchRow.severity_rating),
                func.bool_or(MatchRow.known_exploited),
            ).group_by(MatchRow.advisory_id, MatchRow.organisation_id, MatchRow.status)
        )
    ).all()
    by_advisory: dict[str, dict[str, object]] = {}
    orgs_of: dict[str, set[uuid.UUID]] = defaultdict(set)
    open_orgs: dict[str, set[uuid.UUID]] = defaultdict(set)
    statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    all_orgs: set[uuid.UUID] = set()
    for advisory_id, org, status, count, summary, rating, exploited in rows:
        info = by_advisory.setdefault(advisory_id, {"summary": summary, "rating": rating, "kev": False})
        info["kev"] = bool(info["kev"]) or bool(exploited)
        orgs_of[advisory_id].add(org)
        all_orgs.add(org)
        statuses[advisory_id][status] += count
        totals[status] += count
        if MatchStatus(status) in OPEN_STATUSES:
            open_orgs[advisory_id].add(org)
    sectors = await inventory.organisation_sectors(session, all_orgs)
    out: list[ExposureRow] = []
    for advisory_id, info in by_advisory.items():
        per_sector: dict[str, int] = defaultdict(int)
        for org in orgs_of[advisory_id]:
            per_sector[sectors.get(org, "unregistered")] += 1
        out.append(
            ExposureRow(
                advisory_id=advisory_id,
                summary=cast("str | None", info["summary"]),
                severity_rating=cast("str | None", info["rating"]),
                known_exploited=bool(info["kev"]),
                operators_by_sector=dict(sorted(per_sector.items())),
                by_status={s.value: statuses[advisory_id].get(s.value, 0) for s in MatchStatus},
                open_operators=len(open_orgs[advisory_id]),
            )
        )
    out.sort(
        key=lambda r: (not r.known_exploited, -_RATING_ORDER.get(r.severity_rating or "", -1), r.advisory_id)
    )
    return Exposure(advisories=out, totals_by_status={s.value: totals.get(s.value, 0) for s in MatchStatus})


async def organisations_matched(session: AsyncSession, *, advisory_ids: Sequence[str]) -> int:
    """How many organisations have at least one match to any of these advisories (read-only).

    A count, never who: grants shows it as the reach of a funded tool's findings.
    """
    if not advisory_ids:
        return 0
    count = await session.scalar(
        select(func.count(func.distinct(MatchRow.organisation_id))).where(
            MatchRow.advisory_id.in_(list(advisory_ids))
        )
    )
    return int(count or 0)


# --------------------------------------------------------------------------------------------------
# VEX: the operator's state out, and statements in
# --------------------------------------------------------------------------------------------------


async def export_vex(
    session: AsyncSession,
    *,
    actor: Principal,
    format: VexFormat,
    base_url: str,
    spec_version: str = "1.6",
) -> dict[str, object]:
    """The caller's organisation's decided matches as a CycloneDX VEX BOM (1.5 or 1.6) or an
    OpenVEX 0.2.0 document (see :mod:`.vexexport` for the mapping)."""
    from forewarn.clearinghouse.matching import vexexport

    matches = await list_matches(session, actor=actor)
    organisation = actor.organisation_name or "operator"
    if format is VexFormat.OPENVEX:
        return vexexport.openvex(matches, organisation=organisation, now=utcnow())
    return vexexport.cyclonedx_vex(
        matches, spec_version=spec_version, organisation=organisation, base_url=base_url, now=utcnow()
    )


class _Held:
    """A stored match as the VEX index reads a component."""

    __slots__ = ("ecosystem", "package", "purl", "ref", "version")

    def __init__(self, row: MatchRow, ref: str) -> None:
        self.ecosystem, self.package, self.version = row.ecosystem, row.package, row.version
        self.purl, self.ref = row.purl, ref


def _read_csaf(raw: bytes) -> tuple[Publication, Sequence[Advisory]]:
    from forewarn.clearinghouse.advisories.csaf import loads_csaf

    document = loads_csaf(raw)
    return document.publication, document.advisories


async def import_vex(session: AsyncSession, *, raw: bytes, actor: Principal) -> VexImportOut:
    """Apply a VEX document (CycloneDX VEX, OpenVEX or CSAF VEX) to the caller's matches.

    The document is validated completely before any match changes. A statement applies to a match
    when it names one of the advisory's ids (id or alias) and the component: forewarn's asset-scoped
    reference (what :func:`export_vex` writes) first, otherwise the component's package (purl) and
    version, as at match time; of those that apply the latest decides (OpenVEX ordering). Statuses
    are mapped as :func:`.vexexport.status_of` says; a ``not_affected`` without a justification
    forewarn can record is skipped and listed, never guessed.
    """
    from forewarn.clearinghouse.matching import vexexport
    from forewarn.clearinghouse.matching.vex import VexIndex, VexStatement, parse_vex

    org = _own(actor)
    statements = parse_vex(raw, read_csaf=_read_csaf)
    scoped: dict[str, list[tuple[int, VexStatement]]] = defaultdict(list)
    for order, statement in enumerate(statements):
        for product in statement.products:
            if product.startswith("urn:forewarn:asset:"):
                scoped[product].append((order, statement))
    # A statement scoped to an asset (forewarn's export) speaks for that asset only: its purls are
    # there for other tools, and must not reach the same package on another asset.
    index = VexIndex(
        s for s in statements if not any(p.startswith("urn:forewarn:asset:") for p in s.products)
    )
    rows = list(
        await session.scalars(
            select(MatchRow).where(MatchRow.organisation_id == org).order_by(MatchRow.id).with_for_update()
        )
    )
    published: dict[str, Advisory | None] = {}
    floor = datetime.min.replace(tzinfo=UTC)
    applied = unchanged = 0
    skipped: list[VexSkipped] = []
    now = utcnow()
    for row in rows:
        if row.advisory_id not in published:
            published[row.advisory_id] = await _published_advisory(session, row.advisory_id)
        advisory = published[row.advisory_id]
        ids = set(advisory.all_ids()) if advisory is not None else {row.advisory_id}
        ref = vexexport.component_ref(row.asset_id, row.ecosystem, row.package, row.version)
        own = [(s.timestamp or floor, order, s) for order, s in scoped.get(ref, ()) if ids & set(s.ids())]
        decisive: VexStatement | None
        if own:
            decisive = max(own, key=lambda e: e[:2])[2]
        elif advisory is not None:
            decisive = index.decisive(_Held(row, ref), advisory)
        else:
            decisive = None
        if decisive is None:
            continue
        wanted = vexexport.status_of(decisive)
        if wanted is None:
            skipped.append(
                VexSkipped(
                    match_id=row.id,
                    advisory_id=row.advisory_id,
                    reason="not_affected without a justification forewarn can record (one of CISA's five)",
                )
            )
            continue
        status, justification = wanted
        if row.status == status.value and row.justification == (
            justification.value if justification else None
        ):
            unchanged += 1
            continue
        note = decisive.impact
        if (
            status is MatchStatus.RISK_ACCEPTED
            and decisive.action
            and decisive.action.startswith(vexexport.RISK_ACCEPTED)
        ):
            note = decisive.action.removeprefix(f"{vexexport.RISK_ACCEPTED}: will not fix.").strip() or note
        row.status = status.value
        row.justification = justification.value if justification else None
        row.note = note[:2000] if note else None
        row.status_changed_at = now
        applied += 1
    await session.flush()
    return VexImportOut(statements=len(statements), applied=applied, unchanged=unchanged, skipped=skipped)


# --------------------------------------------------------------------------------------------------
# Stateless scan
# --------------------------------------------------------------------------------------------------


async def scan(session: AsyncSession, *, raw: bytes, actor: Principal) -> ScanOut:
    """Match an SBOM against every published advisory without storing anything (``forewarn scan
    --server``): the same engine, index and report as the offline scan; VEX embedded in a CycloneDX
    JSON SBOM is applied."""
    from forewarn.clearinghouse.inventory.sbom import load_json, parse_sbom
    from forewarn.clearinghouse.inventory.schemas import SbomFormat
    from forewarn.clearinghouse.matching.report import scan_out
    from forewarn.clearinghouse.matching.vex import VexIndex, from_cyclonedx

    if not policy.can_scan(actor):
        raise Forbidden("only operators' contacts and clearinghouse analysts scan against the server")
    inventory_doc = parse_sbom(raw)  # raises InvalidSbom naming each problem
    vex = None
    if inventory_doc.format is SbomFormat.CYCLONEDX_JSON:
        text_doc = raw.decode("utf-8").removeprefix("\ufeff")
        doc = load_json(text_doc, what="SBOM")
        if doc.get("vulnerabilities"):
            vex = VexIndex(from_cyclonedx(doc, text=text_doc))
    index = await advisory_index(session)
    report = match_components(index, inventory_doc.components, vex=vex)
    return scan_out(inventory_doc, report, advisories=len(index))


# --------------------------------------------------------------------------------------------------
# Exposure over time and time to remediate (the clearinghouse's dashboard)
# --------------------------------------------------------------------------------------------------

# Open matches per (advisory, sector), now. Reads inventory's ``ch_subscribers`` by table name for the
# sector (as cross-domain foreign keys do): one aggregate instead of a service call per organisation.
_OPEN_NOW = text(
    "SELECT m.advisory_id, COALESCE(s.sector, 'unregistered') AS sector, count(*) AS open_matches,"
    " count(DISTINCT m.organisation_id) AS open_operators"
    " FROM ch_matches m LEFT JOIN ch_subscribers s ON s.organisation_id = m.organisation_id"
    " WHERE m.status IN ('open', 'acknowledged', 'in_progress') GROUP BY 1, 2"
)
_REMEDIATION = text(
    "SELECT COALESCE(s.sector, 'unregistered') AS sector, count(*) AS fixed,"
    " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM m.status_changed_at - m.created_at)),"
    " percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM m.status_changed_at - m.created_at))"
    " FROM ch_matches m LEFT JOIN ch_subscribers s ON s.organisation_id = m.organisation_id"
    " WHERE m.status = 'fixed' GROUP BY ROLLUP (1) ORDER BY 1 NULLS FIRST"
)


def _analyst(actor: Principal) -> None:
    if not advisories_policy.is_analyst(actor):
        raise Forbidden("only clearinghouse analysts see sector-wide exposure")


async def snapshot_exposure(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Write today's exposure snapshot (open matches per advisory and sector), replacing today's
    earlier one; returns the rows written. Run by the periodic ``matching:snapshot_exposure`` job;
    idempotent (a second run the same day writes the same rows, counted again)."""
    now = now or utcnow()
    today = now.astimezone(UTC).date()
    rows = (await session.execute(_OPEN_NOW)).all()
    await session.execute(text("DELETE FROM ch_exposure_snapshots WHERE day = :day"), {"day": today})
    if rows:
        await session.execute(
            pg_insert(ExposureSnapshot),
            [
                {
                    "day": today,
                    "advisory_id": r[0],
                    "sector": r[1],
                    "open_matches": r[2],
                    "open_operators": r[3],
                    "taken_at": now,
                }
                for r in rows
            ],
        )
    return len(rows)


async def exposure_history(
    session: AsyncSession,
    *,
    actor: Principal,
    days: int = 30,
    advisories_shown: int = 5,
    now: datetime | None = None,
) -> ExposureHistory:
    """Open matches per day over the last *days* days, by sector and for the *advisories_shown*
    advisories with the most open matches today: past days from the daily snapshots (a day
    without a snapshot counts as none open), today counted now."""
    _analyst(actor)
    today = (now or utcnow()).astimezone(UTC).date()
    span = [today - timedelta(days=d) for d in range(days - 1, -1, -1)]
    position = {d: i for i, d in enumerate(span)}
    by_sector: dict[str, list[int]] = defaultdict(lambda: [0] * len(span))
    by_advisory: dict[str, list[int]] = defaultdict(lambda: [0] * len(span))
    past = await session.execute(
        select(
            ExposureSnapshot.day,
            ExposureSnapshot.advisory_id,
            ExposureSnapshot.sector,
            ExposureSnapshot.open_matches,
        ).where(ExposureSnapshot.day >= span[0], ExposureSnapshot.day < today)
    )
    current = [(today, r[0], r[1], r[2]) for r in (await session.execute(_OPEN_NOW)).all()]
    today_by_advisory: dict[str, int] = defaultdict(int)
    for advisory_id, _, count in ((r[1], r[2], r[3]) for r in current):
        today_by_advisory[advisory_id] += count
    top = sorted(today_by_advisory, key=lambda a: (-today_by_advisory[a], a))[:advisories_shown]
    for day, advisory_id, sector, count in [*past.all(), *current]:
        i = position[day]
        by_sector[sector][i] += count
        if advisory_id in top:
            by_advisory[advisory_id][i] += count
    return ExposureHistory(
        days=span,
        by_sector=dict(sorted(by_sector.items())),
        by_advisory={a: by_advisory[a] for a in top},
    )


async def remediation_times(session: AsyncSession, *, actor: Principal) -> list[RemediationRow]:
    """Hours from a match first seen (``created_at``) to fixed (its last status change, to
    ``fixed``), median and 90th percentile per sector, and over all sectors first (``all``)."""
    _analyst(actor)
    out: list[RemediationRow] = []
    for sector, fixed, median, p90 in (await session.execute(_REMEDIATION)).all():
        out.append(
            RemediationRow(
                sector=sector if sector is not None else "all",
                fixed=int(fixed),
                median_hours=round(float(median) / 3600, 2) if median is not None else None,
                p90_hours=round(float(p90) / 3600, 2) if p90 is not None else None,
            )
        )
    return out
