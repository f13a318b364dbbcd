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
from datetime import datetime
from typing import cast

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories import policy as advisories_policy
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.advisories.schemas import Advisory
from forewarn.clearinghouse.inventory import policy as inventory_policy
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.inventory.records import ComponentOut, PackageIdentity
from forewarn.clearinghouse.matching.engine import AdvisoryIndex, Match, match_components, package_keys
from forewarn.clearinghouse.matching.models import Match as MatchRow
from forewarn.clearinghouse.matching.records import (
    OPEN_STATUSES,
    Exposure,
    ExposureRow,
    Justification,
    MatchOut,
    MatchStatus,
    StatusIn,
)
from forewarn.core.clock import utcnow
from forewarn.core.errors import Forbidden, NotFound

__all__ = [
    "MATCH_ADVISORY_TASK",
    "advisory_index",
    "exposure",
    "list_matches",
    "match_advisory",
    "match_asset",
    "published_advisories",
    "set_status",
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
    if fresh:  # one statement for every new match (executemany)
        await session.execute(
            pg_insert(MatchRow).on_conflict_do_nothing(constraint="uq_ch_matches_identity"), fresh
        )
    return alerted + len(fresh), seen


_UNNEST = (
    "unnest(CAST(:base AS text[]), CAST(:eco AS text[]), CAST(:pkg AS text[]), CAST(:ver AS text[]),"
    " CAST(:spkg AS text[]), CAST(:sver AS text[]), CAST(:via AS text[]), CAST(:fixed AS text[]),"
    " CAST(:remediation AS text[])) AS v(base, eco, pkg, ver, spkg, sver, via, fixed, remediation)"
)

# New matches, one statement: every component with an affected identity, one row per (asset, identity).
# Reads inventory's ``ch_components`` by table name (as cross-domain foreign keys do): the set-based
# form is what keeps a popular package's publication in the database instead of in Python.
_INSERT = (
    # The candidates are read once per package through the (base ecosystem, package) index, then
    # hash-joined with the affected identities: joining the identities straight to the table made
    # the planner walk a popular package's rows once per identity.
    "WITH cand AS MATERIALIZED (SELECT * FROM ch_components WHERE (base_ecosystem, package) IN"
    " (SELECT DISTINCT v.base, v.pkg FROM @UNNEST))"
    " INSERT INTO ch_matches (id, organisation_id, asset_id, advisory_id, ecosystem, package, version,"
    " component_name, purl, via, fixed, remediation, summary, severity_score, severity_rating,"
    " known_exploited, status, alerted_at, status_changed_at, created_at)"
    " SELECT DISTINCT ON (c.asset_id, c.ecosystem, c.package, c.version)"
    " gen_random_uuid(), c.organisation_id, c.asset_id, :advisory, c.ecosystem, c.package, c.version,"
    " COALESCE(c.name, c.package), c.purl, v.via,"
    " ARRAY(SELECT jsonb_array_elements_text(CAST(v.fixed AS jsonb))), v.remediation, :summary,"
    " :score, :rating, :kev, 'open', :now, :now, :now"
    " FROM cand c JOIN @UNNEST ON c.package = v.pkg AND c.ecosystem = v.eco AND c.version = v.ver"
    " AND c.source_package IS NOT DISTINCT FROM v.spkg AND c.source_version IS NOT DISTINCT FROM v.sver"
    " ORDER BY c.asset_id, c.ecosystem, c.package, c.version"
    " ON CONFLICT ON CONSTRAINT uq_ch_matches_identity DO NOTHING"
).replace("@UNNEST", _UNNEST)
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
