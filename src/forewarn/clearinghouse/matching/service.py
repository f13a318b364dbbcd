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
from functools import lru_cache
from typing import TYPE_CHECKING, cast

from sqlalchemy import delete, func, select, text
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
from forewarn.clearinghouse.matching.models import ExposureSnapshot, VexStatementRow
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
    VexStatementOut,
)
from forewarn.core.clock import utcnow
from forewarn.core.errors import Forbidden, InvalidInput, NotFound, Problem

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from forewarn.clearinghouse.matching.vex import VexStatement

__all__ = [
    "MATCH_ADVISORY_TASK",
    "advisory_index",
    "apply_stored_vex",
    "delete_vex_statement",
    "export_vex",
    "exposure",
    "exposure_history",
    "import_vex",
    "list_matches",
    "list_vex_statements",
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


# The server's advisory index is kept current by what changed, never rebuilt on a publication. Read by
# table name (as ``_known_exploited`` reads the KEV catalogue): the advisories service lists every
# record or one, and the index needs "what changed since" on the ``modified`` index.
_WINDOW = text(
    "SELECT id, modified FROM ch_public_advisories WHERE source = 'forewarn' AND modified >= :since"
)
_RECORDS = text("SELECT osv FROM ch_public_advisories WHERE source = 'forewarn' AND id = ANY(:ids)")
#: How long a publishing transaction may take between taking its ``modified`` (the time of
#: publication) and committing, and still be seen: each refresh looks at the records modified since
#: its previous refresh minus this long, so one that committed late, behind a newer one, is not missed.
LOOKBACK = timedelta(minutes=10)


class _ServerIndex:
    """The process's index, when it was last brought up to date, and the (id, ``modified``) of the
    records it holds that were modified within :data:`LOOKBACK` before that (what the next refresh
    compares against)."""

    __slots__ = ("checked", "index", "recent")

    def __init__(self, index: AdvisoryIndex, checked: datetime, recent: dict[str, datetime]) -> None:
        self.index, self.checked, self.recent = index, checked, recent


_INDEX: dict[str, _ServerIndex] = {}


async def _window(session: AsyncSession, since: datetime) -> list[tuple[str, datetime]]:
    return [(r[0], r[1]) for r in (await session.execute(_WINDOW, {"since": since})).all()]


async def _changed_records(session: AsyncSession, ids: Sequence[str]) -> list[Advisory]:
    from forewarn.clearinghouse.advisories.osv import from_osv

    return [from_osv(doc) for doc in (await session.scalars(_RECORDS, {"ids": list(ids)}))] if ids else []


async def advisory_index(session: AsyncSession) -> AdvisoryIndex:
    """Every published advisory, indexed; built once per process, then kept current incrementally.

    Publishing, revising and withdrawing all set ``modified`` to the time of publication, so a
    record published or changed since the last refresh has a ``modified`` after that refresh minus
    :data:`LOOKBACK` (the longest a publishing transaction is expected to take), and an (id,
    ``modified``) the index does not hold: each such record is added, replaced or (withdrawn)
    removed in the index, and only its packages are ranked again. One indexed range query on
    ``modified`` answers "nothing new" (the last minutes' publications, not the whole table). A
    record the index holds from that window that is gone (a rolled-back transaction's, in tests)
    makes it rebuild from scratch. A publication that commits after an upload's index was read is
    still matched against that upload by its own ``matching:match_advisory`` job (which reads the
    committed components).
    """
    held = _INDEX.get("published")
    now = utcnow()  # before reading: whatever commits later is seen by the next refresh
    if held is not None:
        rows = await _window(session, held.checked - LOOKBACK)
        present = dict(rows)
        if all(present.get(i) is not None and present[i] >= m for i, m in held.recent.items()):
            changed = [i for i, m in rows if held.recent.get(i) != m]
            if changed:
                for advisory in await _changed_records(session, changed):
                    held.index.add(advisory)  # a withdrawn revision removes the record (OSV §withdrawn)
                held.index.rank_all()  # only the packages just changed are ranked again
            held.checked = max(held.checked, now)
            held.recent = {i: m for i, m in rows if m >= held.checked - LOOKBACK}
            return held.index
    # Built from scratch: the window is read before the records, so that a record committed in
    # between is (at worst) applied again by the next refresh, never missed.
    rows = await _window(session, now - LOOKBACK)
    index = AdvisoryIndex.build(await published_advisories(session))
    index.rank_all()
    _INDEX["published"] = _ServerIndex(index, now, dict(rows))
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
    """Digest of what the advisory tells this package's users to do (CSAF §9.1.17): SHA-256 of the
    JSON ``{"fixed": [...], "remediations": [...]}`` (keys sorted, ``json.dumps`` defaults)."""
    # Written as json.dumps(payload, sort_keys=True, default=str) writes the whole payload, with the
    # remediations part serialised once per distinct content (a new SBOM digests thousands of matches).
    key = tuple((r.category.value, r.details, r.url) for r in advisory.remediations)
    remediations = _REMEDIATIONS.get(key)
    if remediations is None:
        if len(_REMEDIATIONS) > 10_000:
            _REMEDIATIONS.clear()
        remediations = _REMEDIATIONS[key] = json.dumps(
            [{"category": c, "details": d, "url": u} for c, d, u in key], sort_keys=True, default=str
        )
    text_ = f'{{"fixed": {_json_list(tuple(fixed))}, "remediations": {remediations}}}'
    return hashlib.sha256(text_.encode()).hexdigest()


@lru_cache(maxsize=65_536)
def _json_list(items: tuple[str, ...]) -> str:
    return json.dumps(list(items), default=str)


#: The remediations part of the payload, serialised, by its content.
_REMEDIATIONS: dict[tuple[tuple[str, str, object], ...], str] = {}


# --------------------------------------------------------------------------------------------------
# Recording matches
# --------------------------------------------------------------------------------------------------


_Key = tuple[uuid.UUID, str, str, str, str]

# COPY's text format (PostgreSQL "COPY", §File Formats): a backslash, tab, newline or carriage return
# in a value is written as its backslash escape, NULL as \N.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: object) -> str:
    """*value* as one field of a COPY text row (str, UUID, float, bool, datetime or None)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value).translate(_COPY_ESCAPES)


def _copy_array(items: Sequence[str]) -> str:
    """A text array literal (every element quoted, ``"`` and ``\\`` escaped) as one COPY field."""
    quoted = ",".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items)
    return ("{" + quoted + "}").translate(_COPY_ESCAPES)


#: Per advisory (the object the index holds): its summary, severity and COPY fields; per (advisory,
#: fixed versions): the remediation digest and its COPY fields. Kept across calls (a new SBOM meets
#: thousands of advisories, each once), checked against the very object (a revision is a new one).
_FACTS: dict[str, tuple[Advisory, tuple[str | None, float | None, str | None], str]] = {}
_DIGESTS: dict[tuple[str, tuple[str, ...]], tuple[Advisory, str, str]] = {}
_FACTS_HELD = 100_000


def _facts(advisory: Advisory) -> tuple[tuple[str | None, float | None, str | None], str]:
    held = _FACTS.get(advisory.id)
    if held is not None and held[0] is advisory:
        return held[1], held[2]
    if len(_FACTS) >= _FACTS_HELD:
        _FACTS.clear()
    facts = (advisory.summary, *_severity(advisory))
    fields = "\t".join(_copy_value(v) for v in (advisory.id, *facts))  # once per advisory revision
    _FACTS[advisory.id] = (advisory, facts, fields)
    return facts, fields


def _digest(advisory: Advisory, fixed: tuple[str, ...]) -> tuple[str, str]:
    held = _DIGESTS.get((advisory.id, fixed))
    if held is not None and held[0] is advisory:
        return held[1], held[2]
    if len(_DIGESTS) >= _FACTS_HELD:
        _DIGESTS.clear()
    digest = _remediation(advisory, fixed)
    fields = f"{_copy_array(fixed)}\t{digest}"
    _DIGESTS[(advisory.id, fixed)] = (advisory, digest, fields)
    return digest, fields


async def _record(
    session: AsyncSession,
    found: Sequence[Match[ComponentOut]],
    existing: Sequence[MatchRow],
    *,
    now: datetime,
) -> tuple[int, set[_Key]]:
    """Insert new matches (``created_at`` *now*) and refresh known ones; returns (new or reopened,
    keys seen).

    The new rows are written by one ``COPY``, which has no conflict clause; none of them can exist
    committed. The caller holds the asset's row lock (:func:`match_asset`), and a concurrent
    publication's matches of this asset cannot commit while it is held (their foreign-key check
    takes ``FOR KEY SHARE`` on the asset, which waits for our ``FOR UPDATE``); those that committed
    before are among *existing*. One still in flight elsewhere with the same identity makes the two
    transactions deadlock, which PostgreSQL detects by ending one, as it did with ``INSERT … ON
    CONFLICT DO NOTHING`` (which waits for the other transaction too).
    """
    held = {(m.asset_id, m.advisory_id, m.ecosystem, m.package, m.version): m for m in existing}
    exploited = await _known_exploited(session, {m.advisory.id: m.advisory for m in found}.values())
    seen: set[_Key] = set()
    lines: list[str] = []
    components: dict[int, str] = {}  # by id(component): its COPY fields
    tail = f"open\t{_copy_value(now)}\t{_copy_value(now)}\t{_copy_value(now)}\n"
    alerted = 0
    for m in found:
        c, advisory = m.component, m.advisory
        key = (c.asset_id, advisory.id, c.ecosystem, c.package, c.version)
        if key in seen:
            continue  # another component of the asset with the same identity
        seen.add(key)
        facts, advisory_fields = _facts(advisory)
        remediation, fix_fields = _digest(advisory, m.fixed)
        row = held.get(key)
        if row is None:  # in the order of _COPY_FRESH's columns
            component_fields = components.get(id(c))
            if component_fields is None:
                values = (c.organisation_id, c.asset_id, c.ecosystem, c.package, c.version)
                component_fields = components[id(c)] = "\t".join(
                    _copy_value(v) for v in (*values, c.name or c.package, c.purl)
                )
            kev = "t" if advisory.id in exploited else "f"
            lines.append(f"{component_fields}\t{m.via}\t{advisory_fields}\t{kev}\t{fix_fields}\t{tail}")
            continue
        row.summary, row.severity_score, row.severity_rating = facts
        row.known_exploited = advisory.id in exploited
        row.fixed, row.via, row.purl, row.component_name = list(m.fixed), m.via, c.purl, c.name or c.package
        if row.remediation != remediation:
            row.remediation = remediation
            row.alerted_at = now
            alerted += 1
            if row.status == MatchStatus.FIXED.value:
                row.status = MatchStatus.OPEN.value
                row.status_changed_at = now
                row.note = "Reopened: the advisory's remediation changed."
    if lines:  # one COPY for every new match: no per-row statement, no JSON to decode
        await session.flush()  # pending ORM changes first: the copy bypasses the ORM
        connection = await (await session.connection()).get_raw_connection()
        driver = cast("AsyncConnection[object]", connection.driver_connection)
        async with driver.cursor() as cursor, cursor.copy(_COPY_FRESH) as copy:
            await copy.write("".join(lines))
    return alerted + len(lines), seen


# The id is the column's server default (``gen_random_uuid()``): none is made in Python.
_COPY_FRESH = (
    "COPY ch_matches (organisation_id, asset_id, ecosystem, package, version, component_name, purl,"
    " via, advisory_id, summary, severity_score, severity_rating, known_exploited, fixed, remediation,"
    " status, alerted_at, status_changed_at, created_at) FROM STDIN"
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
    (
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
    )
    .replace("@CAND", _CAND)
    .replace("@COMPACT", inventory.compact("c"))
    .replace("@UNNEST", _UNNEST)
)
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
    await _apply_stored_to_alerted(session, advisory, now=cast("datetime", params["now"]))
    return int(getattr(realerted, "rowcount", 0)) + int(getattr(inserted, "rowcount", 0))


async def _keeps_statements(session: AsyncSession, organisations: Sequence[uuid.UUID]) -> bool:
    found = await session.scalar(
        select(VexStatementRow.id).where(VexStatementRow.organisation_id.in_(list(organisations))).limit(1)
    )
    return found is not None


async def _apply_stored_to_alerted(session: AsyncSession, advisory: Advisory, *, now: datetime) -> None:
    """The stored VEX statements naming *advisory* decide the matches it alerted *now* in their
    organisations: new ones and re-alerted ones (a revision that changed the remediation, which
    reopens a match marked ``fixed``: the operator's statement still speaks for it). One indexed
    lookup by id when no operator stated anything about it."""
    orgs = list(
        await session.scalars(
            select(VexStatementRow.organisation_id)
            .where(VexStatementRow.ids.overlap(list(advisory.all_ids())))
            .distinct()
        )
    )
    if not orgs:
        return
    fresh = await session.scalars(
        select(MatchRow).where(
            MatchRow.advisory_id == advisory.id,
            MatchRow.organisation_id.in_(orgs),
            MatchRow.alerted_at == now,
        )
    )
    await apply_stored_vex(session, matches=list(fresh), advisories_by_id={advisory.id: advisory})


async def match_asset(
    session: AsyncSession, *, asset_id: uuid.UUID, index: AdvisoryIndex | None = None
) -> int:
    """Match an asset's (new) inventory against every published advisory; returns open matches found.

    Matches of components no longer in the inventory are marked fixed.
    """
    if index is None:
        index = await advisory_index(session)
    # The asset's row lock (already held after an upload): see _record.
    components = await inventory.asset_components(session, asset_id=asset_id, lock=True)
    report = match_components(index, components)
    existing = list(await session.scalars(select(MatchRow).where(MatchRow.asset_id == asset_id)))
    now = utcnow()
    _, seen = await _record(session, list(report.matches), existing, now=now)
    if report.matches and await _keeps_statements(session, [report.matches[0].component.organisation_id]):
        # The operator's stored VEX decides the matches alerted now: new and re-alerted (issue 6 §3).
        fresh = await session.scalars(
            select(MatchRow).where(MatchRow.asset_id == asset_id, MatchRow.alerted_at == now)
        )
        await apply_stored_vex(
            session, matches=list(fresh), advisories_by_id={m.advisory.id: m.advisory for m in report.matches}
        )
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


_ASSET_URN = "urn:forewarn:asset:"
#: Most VEX statements one organisation keeps (CONVENTIONS §8): past it, an import is refused until
#: older statements are deleted.
MAX_STORED_STATEMENTS = 200_000


def _scoped(product: str) -> bool:
    return product.startswith(_ASSET_URN)


def _asset_of(product: str) -> uuid.UUID | None:
    """The asset a forewarn asset-scoped reference (:func:`.vexexport.component_ref`) names."""
    if not _scoped(product):
        return None
    try:
        return uuid.UUID(product.removeprefix(_ASSET_URN).split(":", 1)[0])
    except ValueError:
        return None


class _Decider:
    """Which of some VEX statements (in the order given: later ones win ties) decides a match.

    A statement scoped to an asset (forewarn's export) speaks for that asset only: its purls are
    there for other tools, and must not reach the same package on another asset; it applies through
    the component's asset-scoped reference. Other statements apply as at match time (:class:`~.vex.VexIndex`).
    """

    def __init__(self, statements: Sequence[VexStatement]) -> None:
        from forewarn.clearinghouse.matching.vex import VexIndex

        self.scoped: dict[str, list[tuple[int, VexStatement]]] = defaultdict(list)
        for order, statement in enumerate(statements):
            for product in statement.products:
                if _scoped(product):
                    self.scoped[product].append((order, statement))
        self.index = VexIndex(s for s in statements if not any(_scoped(p) for p in s.products))

    def decisive(self, row: MatchRow, advisory: Advisory | None) -> VexStatement | None:
        from forewarn.clearinghouse.matching import vexexport

        floor = datetime.min.replace(tzinfo=UTC)
        ids = set(advisory.all_ids()) if advisory is not None else {row.advisory_id}
        ref = vexexport.component_ref(row.asset_id, row.ecosystem, row.package, row.version)
        own = [
            (s.timestamp or floor, order, s) for order, s in self.scoped.get(ref, ()) if ids & set(s.ids())
        ]
        if own:
            return max(own, key=lambda e: e[:2])[2]
        if advisory is not None:
            return self.index.decisive(_Held(row, ref), advisory)
        return None


def _decide(row: MatchRow, decisive: VexStatement, now: datetime, origin: str | None = None) -> str:
    """Set *row* as *decisive* says; returns ``applied``, ``unchanged`` or ``skipped`` (a
    ``not_affected`` without a justification forewarn can record: never guessed)."""
    from forewarn.clearinghouse.matching import vexexport

    wanted = vexexport.status_of(decisive)
    if wanted is None:
        return "skipped"
    status, justification = wanted
    if row.status == status.value and row.justification == (justification.value if justification else None):
        return "unchanged"
    note = decisive.impact
    if (
        status is MatchStatus.RISK_ACCEPTED
        and decisive.action
        and decisive.action.startswith(vexexport.RISK_ACCEPTED)
    ):
        note = decisive.action.removeprefix(f"{vexexport.RISK_ACCEPTED}: will not fix.").strip() or note
    if origin:
        note = f"{note} ({origin})" if note else origin
    row.status = status.value
    row.justification = justification.value if justification else None
    row.note = note[:2000] if note else None
    row.status_changed_at = now
    return "applied"


def _as_statement(row: VexStatementRow) -> VexStatement:
    from forewarn.clearinghouse.matching.vex import VexStatement, VexStatus

    return VexStatement(
        vulnerability=row.vulnerability,
        status=VexStatus(row.status),
        products=tuple(row.products),
        aliases=tuple(i for i in row.ids if i != row.vulnerability),
        justification=row.justification,
        impact=row.impact,
        action=row.action,
        timestamp=row.stated_at,
        source=row.source,
    )


async def _store_statements(
    session: AsyncSession,
    *,
    raw: bytes,
    name: str | None,
    statements: Sequence[VexStatement],
    actor: Principal,
    org: uuid.UUID,
) -> int:
    """Keep *statements* for the organisation's later matches; a document imported again replaces
    its earlier statements (same digest)."""
    digest = hashlib.sha256(raw).hexdigest()
    await session.execute(
        delete(VexStatementRow).where(
            VexStatementRow.organisation_id == org, VexStatementRow.document_sha256 == digest
        )
    )
    held = await session.scalar(
        select(func.count()).select_from(VexStatementRow).where(VexStatementRow.organisation_id == org)
    )
    if int(held or 0) + len(statements) > MAX_STORED_STATEMENTS:
        raise InvalidInput(
            "your organisation keeps too many VEX statements",
            problems=[
                Problem("vex", f"at most {MAX_STORED_STATEMENTS}: delete statements you no longer need")
            ],
        )
    own_assets = {a.id for a in await inventory.list_assets(session, actor=actor)}
    now = utcnow()
    for order, statement in enumerate(statements):
        assets = {a for p in statement.products if (a := _asset_of(p)) is not None}
        scope = next(iter(assets)) if len(assets) == 1 else None
        session.add(
            VexStatementRow(
                organisation_id=org,
                asset_id=scope if scope in own_assets else None,
                imported_by=actor.person_id,
                document_sha256=digest,
                document_name=name[:255] if name else None,
                ordinal=order,
                vulnerability=statement.vulnerability[:255],
                ids=[i[:255] for i in dict.fromkeys(statement.ids())],
                status=statement.status.value,
                products=list(statement.products),
                justification=statement.justification[:100] if statement.justification else None,
                impact=statement.impact,
                action=statement.action,
                stated_at=statement.timestamp,
                source=statement.source,
                created_at=now,
            )
        )
    await session.flush()
    return len(statements)


async def import_vex(
    session: AsyncSession, *, raw: bytes, actor: Principal, name: str | None = None
) -> VexImportOut:
    """Apply a VEX document (CycloneDX VEX, OpenVEX or CSAF VEX) to the caller's matches, and keep
    its statements to decide the organisation's later matches too (:func:`apply_stored_vex`).

    The document is validated completely before anything changes. A statement applies to a match
    when it names one of the advisory's ids (id or alias) and the component: forewarn's asset-scoped
    reference (what :func:`export_vex` writes) first, otherwise the component's package (purl) and
    version, as at match time; of those that apply the latest decides (OpenVEX ordering). Statuses
    are mapped as :func:`.vexexport.status_of` says; a ``not_affected`` without a justification
    forewarn can record is skipped and listed, never guessed.
    """
    from forewarn.clearinghouse.matching.vex import parse_vex

    org = _own(actor)
    statements = parse_vex(raw, read_csaf=_read_csaf)
    stored = await _store_statements(session, raw=raw, name=name, statements=statements, actor=actor, org=org)
    decider = _Decider(statements)
    rows = list(
        await session.scalars(
            select(MatchRow).where(MatchRow.organisation_id == org).order_by(MatchRow.id).with_for_update()
        )
    )
    published: dict[str, Advisory | None] = {}
    applied = unchanged = 0
    skipped: list[VexSkipped] = []
    now = utcnow()
    for row in rows:
        if row.advisory_id not in published:
            published[row.advisory_id] = await _published_advisory(session, row.advisory_id)
        decisive = decider.decisive(row, published[row.advisory_id])
        if decisive is None:
            continue
        outcome = _decide(row, decisive, now)
        if outcome == "skipped":
            skipped.append(
                VexSkipped(
                    match_id=row.id,
                    advisory_id=row.advisory_id,
                    reason="not_affected without a justification forewarn can record (one of CISA's five)",
                )
            )
        elif outcome == "unchanged":
            unchanged += 1
        else:
            applied += 1
    await session.flush()
    return VexImportOut(
        statements=len(statements), applied=applied, unchanged=unchanged, skipped=skipped, stored=stored
    )


async def apply_stored_vex(
    session: AsyncSession, *, matches: Sequence[MatchRow], advisories_by_id: dict[str, Advisory]
) -> int:
    """Decide new or re-alerted *matches* by their organisations' stored VEX statements (issue 6 §3:
    operator VEX is applied at match time); returns how many changed. The match keeps the statement's status,
    justification and impact, and says in its note which imported statement set it."""
    if not matches:
        return 0
    ids = sorted(
        {i for a in advisories_by_id.values() for i in a.all_ids()} | {m.advisory_id for m in matches}
    )
    orgs = sorted({m.organisation_id for m in matches})
    rows = list(
        await session.scalars(
            select(VexStatementRow)
            .where(VexStatementRow.ids.overlap(ids), VexStatementRow.organisation_id.in_(orgs))
            .order_by(VexStatementRow.created_at, VexStatementRow.document_sha256, VexStatementRow.ordinal)
        )
    )
    if not rows:
        return 0
    by_org: dict[uuid.UUID, list[VexStatementRow]] = defaultdict(list)
    for kept in rows:
        by_org[kept.organisation_id].append(kept)
    deciders: dict[uuid.UUID, _Decider] = {}
    origin_of: dict[int, str] = {}  # by statement object: which import set a match
    for org, held in by_org.items():
        statements: list[VexStatement] = []
        for row in held:
            statement = _as_statement(row)
            origin_of[id(statement)] = (
                f"set by your VEX statement imported {row.created_at:%Y-%m-%d}"
                f" from {row.document_name or 'document sha256:' + row.document_sha256[:12]}"
            )
            statements.append(statement)
        deciders[org] = _Decider(statements)
    now = utcnow()
    changed = 0
    for match in matches:
        decider = deciders.get(match.organisation_id)
        if decider is None:
            continue
        decisive = decider.decisive(match, advisories_by_id.get(match.advisory_id))
        if decisive is not None and _decide(match, decisive, now, origin_of.get(id(decisive))) == "applied":
            changed += 1
    await session.flush()
    return changed


async def list_vex_statements(session: AsyncSession, *, actor: Principal) -> list[VexStatementOut]:
    """The VEX statements the caller's organisation keeps, newest import first."""
    org = _own(actor)
    names = {a.id: a.name for a in await inventory.list_assets(session, actor=actor)}
    rows = await session.scalars(
        select(VexStatementRow)
        .where(VexStatementRow.organisation_id == org)
        .order_by(VexStatementRow.created_at.desc(), VexStatementRow.document_sha256, VexStatementRow.ordinal)
    )
    return [
        VexStatementOut(
            id=r.id,
            vulnerability=r.vulnerability,
            ids=list(r.ids),
            status=r.status,
            justification=r.justification,
            impact=r.impact,
            action=r.action,
            products=list(r.products),
            asset_id=r.asset_id,
            asset_name=names.get(r.asset_id) if r.asset_id else None,
            stated_at=r.stated_at,
            document_sha256=r.document_sha256,
            document_name=r.document_name,
            imported_at=r.created_at,
        )
        for r in rows
    ]


async def delete_vex_statement(session: AsyncSession, *, statement_id: uuid.UUID, actor: Principal) -> None:
    """Forget one of the caller's stored statements: it no longer decides later matches (statuses it
    already set stay, as the operator's). Another organisation's statement is not found."""
    org = _own(actor)
    row = await session.get(VexStatementRow, statement_id)
    if row is None or row.organisation_id != org:
        raise NotFound("no such VEX statement")
    await session.delete(row)
    await session.flush()


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
