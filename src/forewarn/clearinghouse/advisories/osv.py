"""OSV JSON ↔ the internal :class:`~.schemas.Advisory`, both ways.

Invariants:

- input is checked against the limits of :mod:`.schemas`, then against the OSV JSON Schema shipped
  with forewarn (``schema/osv.schema.json``, written from the OSV specification 1.7.4), then against
  the model's own rules (CVSS vectors, range coherence), before anything is built; every problem is
  reported at its JSON Pointer in the given document;
- output validates against the same schema (checked on every export) and says
  ``schema_version`` :data:`OSV_SCHEMA_VERSION`;
- ``from_osv(to_osv(a)) == a`` for every advisory whose fields OSV can carry: id, aliases, related,
  upstream, summary, details, published, modified, withdrawn, severities (without product ids),
  affected packages with their ranges, versions and severities, references (with their type),
  credits, database/ecosystem-specific data, CWEs, TLP and the AI fields. The last three have no
  OSV field; they travel in ``database_specific.forewarn`` (OSV §database_specific), except CWEs
  the record already carries the way GitHub's database does (``database_specific.cwe_ids`` or
  ``affected[].database_specific.cwes[].cweId``).
- what OSV cannot carry is left out of the export: CSAF product status other than affected, products
  without an OSV package, remediations, threats, notes, flags, involvements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory, Problem, pointer, problems_from
from forewarn.clearinghouse.advisories.jsondoc import parse_json, schema_problems

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "FOREWARN_KEY",
    "OSV_SCHEMA_VERSION",
    "from_osv",
    "loads_osv",
    "osv_schema",
    "to_osv",
    "validate_osv",
]

#: The OSV schema version this codec reads and writes (OSV §schema_version).
OSV_SCHEMA_VERSION = "1.7.4"
#: Key under ``database_specific`` for what forewarn adds that OSV has no field for.
FOREWARN_KEY = "forewarn"

M = TypeVar("M", bound=BaseModel)


@lru_cache(maxsize=1)
def osv_schema() -> dict[str, Any]:
    """forewarn's OSV JSON Schema (read on first use, then cached)."""
    import json

    text = resources.files("forewarn.clearinghouse.advisories").joinpath("schema/osv.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Validator:
    from jsonschema import Draft202012Validator

    schema = osv_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@lru_cache(maxsize=1)
def _fast_check() -> Callable[[Any], bool]:
    from forewarn.clearinghouse.advisories._fastschema import UnsupportedSchema, compile_schema

    try:
        return compile_schema(osv_schema())
    except UnsupportedSchema:  # fail closed: every document goes through jsonschema
        return lambda _doc: False


# --------------------------------------------------------------------------------------------------
# Checking a document
# --------------------------------------------------------------------------------------------------


def _count_problems(doc: Mapping[str, Any]) -> list[Problem]:
    """Cheap count limits, checked before the schema so that a huge document costs little."""
    problems: list[Problem] = []

    def over(value: Any, limit: int, *path: str | int) -> bool:
        if isinstance(value, list) and len(value) > limit:
            problems.append(Problem(pointer(*path), f"{len(value)} items; the limit is {limit}"))
            return True
        return False

    for key in ("aliases", "related", "upstream", "references", "credits", "severity"):
        over(doc.get(key), s.MAX_ITEMS, key)
    affected = doc.get("affected")
    if over(affected, s.MAX_AFFECTED, "affected") or not isinstance(affected, list):
        return problems
    for i, entry in enumerate(affected):
        if not isinstance(entry, dict):
            continue
        over(entry.get("versions"), s.MAX_VERSIONS, "affected", i, "versions")
        ranges = entry.get("ranges")
        if over(ranges, s.MAX_RANGES, "affected", i, "ranges") or not isinstance(ranges, list):
            continue
        for j, range_ in enumerate(ranges):
            if isinstance(range_, dict):
                over(range_.get("events"), s.MAX_EVENTS, "affected", i, "ranges", j, "events")
    return problems


def validate_osv(doc: Any) -> None:
    """Raise :class:`InvalidAdvisory` unless *doc* is an OSV record within forewarn's limits."""
    if not isinstance(doc, Mapping):
        raise InvalidAdvisory("not an OSV record", problems=[Problem("", "expected a JSON object")])
    problems = _count_problems(doc)
    if problems:
        raise InvalidAdvisory("OSV record exceeds a limit", problems=problems)
    if _fast_check()(doc):  # compiled check (10x jsonschema); jsonschema names the problems
        return
    problems = schema_problems(_validator(), doc)
    if problems:
        raise InvalidAdvisory("OSV record does not match the OSV schema", problems=problems)


# --------------------------------------------------------------------------------------------------
# OSV -> internal
# --------------------------------------------------------------------------------------------------


def _message(error: Mapping[str, Any]) -> str:
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _build(
    cls: type[M],
    path: str,
    problems: list[Problem],
    rename: Mapping[str, str] | None = None,
    /,
    **fields: Any,
) -> M | None:
    """``cls(**fields)``, or ``None`` with each validation error recorded at its place under *path*."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = [rename.get(str(p), p) if rename and isinstance(p, str) else p for p in error["loc"]]
            problems.append(Problem(path + pointer(*loc), _message(error)))
        return None


_AFFECTED_RENAME = {"severities": "severity"}


def _severities(items: Any, path: str, problems: list[Problem]) -> list[s.Severity]:
    out: list[s.Severity] = []
    for i, item in enumerate(items or ()):
        built = _build(s.Severity, f"{path}/{i}", problems, type=item["type"], score=item["score"])
        if built is not None:
            out.append(built)
    return out


def _range(item: Mapping[str, Any], path: str, problems: list[Problem]) -> s.Range | None:
    before = len(problems)
    events: list[s.Event] = []
    for k, event in enumerate(item["events"]):
        ((kind, version),) = event.items()  # the schema allows exactly one key per event
        built = _build(s.Event, f"{path}/events/{k}", problems, {"version": kind}, kind=kind, version=version)
        if built is not None:
            events.append(built)
    if len(problems) > before:
        return None
    return _build(
        s.Range,
        path,
        problems,
        type=item["type"],
        repo=item.get("repo"),
        events=tuple(events),
        database_specific=item.get("database_specific"),
    )


def _affected(item: Mapping[str, Any], path: str, problems: list[Problem]) -> s.Affected | None:
    before = len(problems)
    package = None
    if "package" in item:
        raw = item["package"]
        package = _build(
            s.Package,
            f"{path}/package",
            problems,
            ecosystem=raw["ecosystem"],
            name=raw["name"],
            purl=raw.get("purl"),
        )
    ranges = [_range(r, f"{path}/ranges/{j}", problems) for j, r in enumerate(item.get("ranges") or ())]
    severities = _severities(item.get("severity"), f"{path}/severity", problems)
    if len(problems) > before:
        return None
    return _build(
        s.Affected,
        path,
        problems,
        _AFFECTED_RENAME,
        package=package,
        ranges=tuple(r for r in ranges if r is not None),
        versions=tuple(item.get("versions") or ()),
        severities=tuple(severities),
        ecosystem_specific=item.get("ecosystem_specific"),
        database_specific=item.get("database_specific"),
    )


def _known_cwes(doc: Mapping[str, Any]) -> list[str]:
    """CWEs an OSV record carries by convention (GitHub's ``cwe_ids`` and per-package ``cwes``)."""
    found: list[str] = []
    top = doc.get("database_specific")
    if isinstance(top, Mapping) and isinstance(top.get("cwe_ids"), list):
        found.extend(c for c in top["cwe_ids"] if isinstance(c, str))
    for entry in doc.get("affected") or ():
        db = entry.get("database_specific") if isinstance(entry, Mapping) else None
        if isinstance(db, Mapping) and isinstance(db.get("cwes"), list):
            found.extend(
                c["cweId"] for c in db["cwes"] if isinstance(c, Mapping) and isinstance(c.get("cweId"), str)
            )
    return [c for c in dict.fromkeys(found) if _is_cwe(c)]


def _is_cwe(value: str) -> bool:
    head, _, number = value.partition("-")
    return head == "CWE" and number.isdigit() and not number.startswith("0") and len(number) <= 6


def _extras(raw: Any, problems: list[Problem]) -> tuple[s.Tlp | None, s.ModelVulnerability | None, list[str]]:
    """Read ``database_specific.forewarn``: TLP, AI fields and CWEs OSV has no field for."""
    path = pointer("database_specific", FOREWARN_KEY)
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, "expected an object"))
        return None, None, []
    unknown = set(raw) - {"tlp", "ai", "cwes"}
    if unknown:
        problems.append(Problem(path, f"unknown keys: {', '.join(sorted(unknown))[:200]}"))
    tlp = None
    if "tlp" in raw:
        try:
            tlp = s.Tlp(raw["tlp"])
        except ValueError:
            problems.append(Problem(path + "/tlp", f"must be one of {', '.join(t.value for t in s.Tlp)}"))
    ai = None
    if "ai" in raw:
        ai_raw = raw["ai"]
        if isinstance(ai_raw, Mapping):
            ai = _build(
                s.ModelVulnerability,
                path + "/ai",
                problems,
                attack_class=ai_raw.get("attack_class"),
                affected_models=tuple(ai_raw.get("affected_models") or ()),
            )
        else:
            problems.append(Problem(path + "/ai", "expected an object"))
    cwes: list[str] = []
    if "cwes" in raw:
        values = raw["cwes"]
        if isinstance(values, list) and all(isinstance(c, str) and _is_cwe(c) for c in values):
            cwes = list(values)
        else:
            problems.append(Problem(path + "/cwes", "expected a list of CWE ids such as CWE-79"))
    return tlp, ai, cwes


def from_osv(doc: Mapping[str, Any]) -> s.Advisory:
    """The advisory an OSV record describes; raises :class:`InvalidAdvisory` listing every problem."""
    validate_osv(doc)
    try:
        return _from_valid_osv(doc)
    except ValidationError as exc:  # every model is built through _build; this is a safety net
        raise InvalidAdvisory("OSV record is not a valid advisory", problems=problems_from(exc)) from None


def _from_valid_osv(doc: Mapping[str, Any]) -> s.Advisory:
    problems: list[Problem] = []
    severities = _severities(doc.get("severity"), "/severity", problems)
    affected = [_affected(a, f"/affected/{i}", problems) for i, a in enumerate(doc.get("affected") or ())]
    references = [
        _build(s.Reference, f"/references/{i}", problems, url=r["url"], type=r["type"])
        for i, r in enumerate(doc.get("references") or ())
    ]
    credits_ = [
        _build(
            s.Credit,
            f"/credits/{i}",
            problems,
            name=c["name"],
            contact=tuple(c.get("contact") or ()),
            type=c.get("type"),
        )
        for i, c in enumerate(doc.get("credits") or ())
    ]
    database_specific = dict(doc["database_specific"]) if "database_specific" in doc else None
    tlp, ai, cwes = None, None, _known_cwes(doc)
    if database_specific is not None and FOREWARN_KEY in database_specific:
        tlp, ai, extra_cwes = _extras(database_specific.pop(FOREWARN_KEY), problems)
        cwes.extend(extra_cwes)
    if problems:
        raise InvalidAdvisory("OSV record is not a valid advisory", problems=problems)
    advisory = _build(
        s.Advisory,
        "",
        problems,
        {"severities": "severity"},
        id=doc["id"],
        aliases=tuple(doc.get("aliases") or ()),
        related=tuple(doc.get("related") or ()),
        upstream=tuple(doc.get("upstream") or ()),
        summary=doc.get("summary") or None,
        details=doc.get("details") or None,
        published=doc.get("published"),
        modified=doc["modified"],
        withdrawn=doc.get("withdrawn"),
        affected=tuple(a for a in affected if a is not None),
        severities=tuple(severities),
        cwes=tuple(cwes),
        references=tuple(r for r in references if r is not None),
        credits=tuple(c for c in credits_ if c is not None),
        tlp=tlp,
        ai=ai,
        database_specific=database_specific or None,
    )
    if advisory is None:
        raise InvalidAdvisory("OSV record is not a valid advisory", problems=problems)
    return advisory


def loads_osv(raw: bytes | str) -> s.Advisory:
    """Parse one OSV JSON document (bounded, strict JSON) and convert it."""
    return from_osv(parse_json(raw, max_bytes=s.MAX_DOCUMENT_BYTES, what="OSV record"))


# --------------------------------------------------------------------------------------------------
# internal -> OSV
# --------------------------------------------------------------------------------------------------


def _severity_out(items: Iterable[s.Severity]) -> list[dict[str, Any]]:
    return [{"type": sev.type.value, "score": sev.score} for sev in items]


def _exportable(entry: s.Affected) -> bool:
    if entry.status not in s.AFFECTED_STATUSES:
        return False
    return entry.package is not None or (
        bool(entry.ranges) and all(r.type is s.RangeType.GIT for r in entry.ranges)
    )


def _affected_out(entry: s.Affected) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if entry.package is not None:
        package: dict[str, Any] = {"ecosystem": entry.package.ecosystem, "name": entry.package.name}
        if entry.package.purl:
            package["purl"] = entry.package.purl
        out["package"] = package
    if entry.severities:
        out["severity"] = _severity_out(entry.severities)
    if entry.ranges:
        ranges = []
        for range_ in entry.ranges:
            r: dict[str, Any] = {"type": range_.type.value}
            if range_.repo is not None:
                r["repo"] = range_.repo
            r["events"] = [{e.kind.value: e.version} for e in range_.events]
            if range_.database_specific is not None:
                r["database_specific"] = range_.database_specific
            ranges.append(r)
        out["ranges"] = ranges
    if entry.versions:
        out["versions"] = list(entry.versions)
    if entry.ecosystem_specific is not None:
        out["ecosystem_specific"] = entry.ecosystem_specific
    if entry.database_specific is not None:
        out["database_specific"] = entry.database_specific
    return out


def to_osv(advisory: s.Advisory) -> dict[str, Any]:
    """The OSV record of *advisory*; raises :class:`InvalidAdvisory` if it would not validate
    (for example, an id without a prefix OSV knows)."""
    ts = s.format_timestamp
    out: dict[str, Any] = {
        "schema_version": OSV_SCHEMA_VERSION,
        "id": advisory.id,
        "modified": ts(advisory.modified),
    }
    if advisory.published is not None:
        out["published"] = ts(advisory.published)
    if advisory.withdrawn is not None:
        out["withdrawn"] = ts(advisory.withdrawn)
    for key in ("aliases", "upstream", "related"):
        values = getattr(advisory, key)
        if values:
            out[key] = list(values)
    if advisory.summary is not None:
        out["summary"] = advisory.summary
    if advisory.details is not None:
        out["details"] = advisory.details
    if advisory.severities:
        out["severity"] = _severity_out(advisory.severities)
    affected = [_affected_out(a) for a in advisory.affected if _exportable(a)]
    if affected:
        out["affected"] = affected
    if advisory.references:
        out["references"] = [
            {"type": (r.type or _reference_type(r)).value, "url": r.url} for r in advisory.references
        ]
    if advisory.credits:
        credits_ = []
        for credit in advisory.credits:
            c: dict[str, Any] = {"name": credit.name}
            if credit.contact:
                c["contact"] = list(credit.contact)
            if credit.type is not None:
                c["type"] = credit.type.value
            credits_.append(c)
        out["credits"] = credits_
    database_specific = dict(advisory.database_specific or {})
    extras = _extras_out(advisory, out, database_specific)
    if extras:
        database_specific[FOREWARN_KEY] = extras
    if database_specific:
        out["database_specific"] = database_specific
    problems = schema_problems(_validator(), out)
    if problems:
        raise InvalidAdvisory(f"advisory {advisory.id} cannot be written as OSV", problems=problems)
    return out


def _reference_type(reference: s.Reference) -> s.ReferenceType:
    return s.ReferenceType.ADVISORY if reference.category is s.ReferenceCategory.SELF else s.ReferenceType.WEB


def _extras_out(
    advisory: s.Advisory, out: dict[str, Any], database_specific: dict[str, Any]
) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if advisory.tlp is not None:
        extras["tlp"] = advisory.tlp.value
    if advisory.ai is not None:
        extras["ai"] = {
            "attack_class": advisory.ai.attack_class.value,
            "affected_models": list(advisory.ai.affected_models),
        }
    carried = set(_known_cwes({**out, "database_specific": database_specific}))
    missing = [c for c in advisory.cwes if c not in carried]
    if missing:
        extras["cwes"] = missing
    return extras
