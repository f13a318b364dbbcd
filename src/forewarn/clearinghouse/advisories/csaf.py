"""CSAF 2.0 (``csaf_security_advisory``, ``csaf_vex`` and every other valid profile) ↔ the internal model.

One CSAF document is one :class:`~.schemas.Publication` (CSAF §3.2.1 ``document`` and §3.2.2
``product_tree``) and one :class:`~.schemas.Advisory` per item of ``vulnerabilities`` (§3.2.3).

Invariants:

- input is checked against the limits of :mod:`.schemas`, then against the CSAF 2.0 JSON Schema and
  every mandatory test (§6.1, via :mod:`.csaf_checks`), before anything is built;
- every exported document passes the same schema and mandatory tests; :func:`to_csaf` raises
  :class:`InvalidAdvisory` rather than return one that does not;
- ``to_csaf(from_csaf(d).advisories, publication=from_csaf(d).publication)`` keeps what both carry:
  the document (publisher, tracking with its revision history, notes, references,
  acknowledgments, distribution, TLP, aggregate severity), the product tree as given, and per
  vulnerability its ids, title, CWE, dates, notes, product status, CVSS v2/v3 scores, remediations,
  threats, flags, involvements, acknowledgments and references.

Mappings that need a decision:

- TLP: CSAF 2.0 §3.2.1.5.2 knows the TLP v1 labels WHITE, GREEN, AMBER, RED. CLEAR ↔ WHITE, the rest
  by name. AMBER+STRICT has no CSAF 2.0 label. Writing AMBER would let recipients share with their
  clients, which AMBER+STRICT forbids, so by default the export is refused; ``amber_strict="red"``
  writes RED (stricter, never wider) and says "TLP:AMBER+STRICT" in ``distribution.text``. An import
  reads the label only: RED stays RED (fail closed).
- CVSS v4.0 and Ubuntu priorities have no place in CSAF 2.0 (§3.2.3.11 has ``cvss_v2``/``cvss_v3``):
  they stay internal. At most one score per CVSS major version and product is written (§6.1.7).
- CSAF 2.0 has one ``cwe`` per vulnerability (§3.2.3.3) whose name must be the catalogue's (§6.1.11):
  the first CWE the catalogue knows is written.
- OSV packages become products under ``product_family`` (the ecosystem) → ``product_name`` (the
  package) → ``product_version_range`` (a ``vers`` string, one product per affected interval) or
  ``product_version``, with a purl when the ecosystem has a purl type; the product ids are derived
  from the content, so they are stable across revisions. ``vers`` needs ordered constraints: events
  are ordered as SemVer when every version is one, else taken in the order given when they alternate
  introduced/fixed, else the package is written without a range. GIT ranges cannot be written as
  ``vers`` and are left out.
- Model vulnerabilities: each affected model is a product under ``product_family`` "AI models";
  the attack class and models travel in a vulnerability note titled :data:`AI_NOTE_TITLE`, and a
  withdrawal in a note titled :data:`WITHDRAWN_NOTE_TITLE`; both are read back on import.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from forewarn.clearinghouse.advisories import _purl
from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories._semver import parse_semver
from forewarn.clearinghouse.advisories.csaf_checks import cwe_name, validate_csaf
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory, Problem, pointer, problems_from
from forewarn.clearinghouse.advisories.jsondoc import parse_json

__all__ = [
    "AI_NOTE_TITLE",
    "WITHDRAWN_NOTE_TITLE",
    "CsafDocument",
    "from_csaf",
    "loads_csaf",
    "to_csaf",
]

AI_NOTE_TITLE = "AI model vulnerability"
WITHDRAWN_NOTE_TITLE = "Withdrawn"
_TLP_URL = "https://www.first.org/tlp/"
_TLP_TO_CSAF = {s.Tlp.CLEAR: "WHITE", s.Tlp.GREEN: "GREEN", s.Tlp.AMBER: "AMBER", s.Tlp.RED: "RED"}
_TLP_FROM_CSAF = {v: k for k, v in _TLP_TO_CSAF.items()}
_CVE = re.compile(r"^CVE-[0-9]{4}-[0-9]{4,}$")
_ID_LIKE = re.compile(r"^([A-Za-z][A-Za-z0-9_.]*)-[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_MAX_VERSION_PRODUCTS = 1_000

M = TypeVar("M", bound=BaseModel)


class CsafDocument(BaseModel):
    """A CSAF document in the internal model: its publication and one advisory per vulnerability."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    publication: s.Publication
    advisories: tuple[s.Advisory, ...] = ()


# --------------------------------------------------------------------------------------------------
# Limits checked before validation
# --------------------------------------------------------------------------------------------------


def _limit_problems(doc: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    vulns = doc.get("vulnerabilities")
    if isinstance(vulns, list) and len(vulns) > s.MAX_VULNERABILITIES:
        problems.append(
            Problem("/vulnerabilities", f"{len(vulns)} items; the limit is {s.MAX_VULNERABILITIES}")
        )
    tree = doc.get("product_tree")
    if not isinstance(tree, Mapping):
        return problems
    count = 0
    top = tree.get("branches")  # a wrong type is the schema check's to report, not a crash here
    stack: list[tuple[Any, int, str]] = [
        (b, 1, f"/product_tree/branches/{i}") for i, b in enumerate(top if isinstance(top, list) else ())
    ]
    while stack:
        branch, depth, path = stack.pop()
        count += 1
        if depth > s.MAX_BRANCH_DEPTH:
            problems.append(Problem(path, f"branches nest deeper than {s.MAX_BRANCH_DEPTH} levels"))
            break
        if isinstance(branch, Mapping) and isinstance(branch.get("branches"), list):
            stack.extend((b, depth + 1, f"{path}/branches/{i}") for i, b in enumerate(branch["branches"]))
        if count > s.MAX_PRODUCTS:
            break
    for key in ("full_product_names", "relationships", "product_groups"):
        if isinstance(tree.get(key), list):
            count += len(tree[key])
    if count > s.MAX_PRODUCTS:
        problems.append(Problem("/product_tree", f"more than {s.MAX_PRODUCTS} products"))
    return problems


# --------------------------------------------------------------------------------------------------
# CSAF -> internal
# --------------------------------------------------------------------------------------------------


def _message(error: Mapping[str, Any]) -> str:
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def _validate(
    cls: type[M],
    data: Any,
    path: str,
    problems: list[Problem],
    rename: Mapping[str, tuple[str, ...]] | None = None,
) -> M | None:
    """``cls.model_validate(data)``, or ``None`` with each error recorded at its place under *path*
    (*rename* maps a model field to where the document keeps it)."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc: list[str | int] = []
            for part in error["loc"]:
                if rename and isinstance(part, str) and part in rename:
                    loc.extend(rename[part])
                else:
                    loc.append(part)
            problems.append(Problem(path + pointer(*loc), _message(error)))
        return None


def _credits(acks: Iterable[Mapping[str, Any]], path: str, problems: list[Problem]) -> list[s.Credit]:
    """CSAF acknowledgments (§3.1.1) as credits, one per name (or the organisation when nameless)."""
    out: list[s.Credit] = []
    for i, ack in enumerate(acks):
        org, summary, urls = ack.get("organization"), ack.get("summary"), tuple(ack.get("urls") or ())
        names = ack.get("names") or ([org] if org else [summary] if summary else [])
        for name in names:
            data = {"name": name, "contact": urls, "organization": org, "summary": summary}
            credit = _validate(s.Credit, data, f"{path}/{i}", problems)
            if credit is not None:
                out.append(credit)
    return out


def _reference(raw: Mapping[str, Any], path: str, problems: list[Problem]) -> s.Reference | None:
    data = {"url": raw.get("url"), "category": raw.get("category", "external"), "summary": raw.get("summary")}
    return _validate(s.Reference, data, path, problems)


def _publication(doc: Mapping[str, Any], problems: list[Problem]) -> s.Publication | None:
    before = len(problems)
    d = doc["document"]
    tracking = d["tracking"]
    generator = tracking.get("generator") or {}
    engine = generator.get("engine") or {}
    distribution = d.get("distribution") or {}
    tlp_raw = distribution.get("tlp") or {}
    aggregate = d.get("aggregate_severity") or {}
    tree = None
    if "product_tree" in doc:
        tree = _validate(s.ProductTree, doc["product_tree"], "/product_tree", problems)
    notes = [
        _validate(s.Note, n, f"/document/notes/{i}", problems) for i, n in enumerate(d.get("notes") or ())
    ]
    refs = [
        _reference(r, f"/document/references/{i}", problems) for i, r in enumerate(d.get("references") or ())
    ]
    acks = _credits(d.get("acknowledgments") or (), "/document/acknowledgments", problems)
    revisions = [
        _validate(s.Revision, r, f"/document/tracking/revision_history/{i}", problems)
        for i, r in enumerate(tracking.get("revision_history") or ())
    ]
    if len(problems) > before:
        return None
    data = {
        "id": tracking["id"],
        "title": d["title"],
        "category": d["category"],
        "publisher": d["publisher"],
        "version": tracking["version"],
        "status": tracking["status"],
        "revision_history": tuple(r for r in revisions if r is not None),
        "initial_release_date": tracking["initial_release_date"],
        "current_release_date": tracking["current_release_date"],
        "generator_engine": engine.get("name"),
        "generator_engine_version": engine.get("version"),
        "generator_date": generator.get("date"),
        "aliases": tuple(tracking.get("aliases") or ()),
        "lang": d.get("lang"),
        "source_lang": d.get("source_lang"),
        "notes": tuple(n for n in notes if n is not None),
        "references": tuple(r for r in refs if r is not None),
        "acknowledgments": tuple(acks),
        "distribution_text": distribution.get("text"),
        "tlp": _TLP_FROM_CSAF.get(tlp_raw.get("label", "")),
        "tlp_url": tlp_raw.get("url"),
        "aggregate_severity": aggregate.get("text"),
        "aggregate_severity_namespace": aggregate.get("namespace"),
        "product_tree": tree,
    }
    rename = {  # the model's flat fields, back to where CSAF keeps them
        key: ("tracking", key)
        for key in ("id", "version", "status", "initial_release_date", "current_release_date")
    }
    return _validate(s.Publication, data, "/document", problems, rename)


@dataclass(frozen=True)
class _ProductInfo:
    name: str
    helper: s.ProductIdentificationHelper | None
    path: tuple[tuple[s.BranchCategory, str], ...]  # the branches above and including the leaf


def _catalogue(tree: s.ProductTree | None) -> dict[str, _ProductInfo]:
    if tree is None:
        return {}
    found: dict[str, _ProductInfo] = {}
    stack: list[tuple[s.Branch, tuple[tuple[s.BranchCategory, str], ...]]] = [(b, ()) for b in tree.branches]
    while stack:
        branch, above = stack.pop()
        here = (*above, (branch.category, branch.name))
        if branch.product is not None:
            p = branch.product
            found.setdefault(p.product_id, _ProductInfo(p.name, p.product_identification_helper, here))
        stack.extend((b, here) for b in branch.branches)
    for fpn in tree.full_product_names:
        found.setdefault(fpn.product_id, _ProductInfo(fpn.name, fpn.product_identification_helper, ()))
    for rel in tree.relationships:
        fpn = rel.full_product_name
        helper = fpn.product_identification_helper
        component = found.get(rel.product_reference)
        if helper is None and component is not None:
            helper = component.helper  # the component is the package a relationship product contains
        found.setdefault(fpn.product_id, _ProductInfo(fpn.name, helper, ()))
    return found


def _ranges(scheme: str, intervals: Sequence[_purl.Interval]) -> tuple[s.Range, ...]:
    """OSV ranges for the intervals of a ``vers`` string, one range per interval."""
    out: list[s.Range] = []
    try:
        for iv in intervals:
            events = [s.Event(kind=s.EventKind.INTRODUCED, version=iv.lower or "0")]
            if iv.upper is not None:
                kind = s.EventKind.LAST_AFFECTED if iv.upper_inclusive else s.EventKind.FIXED
                events.append(s.Event(kind=kind, version=iv.upper))
            semver = scheme == "semver" and all(parse_semver(e.version) for e in events if e.version != "0")
            range_type = s.RangeType.SEMVER if semver else s.RangeType.ECOSYSTEM
            out.append(s.Range(type=range_type, events=tuple(events)))
    except ValidationError:
        return ()  # derived, not given: ranges we cannot state are left out, the product stays
    return tuple(out)


def _affected(pid: str, status: str, info: _ProductInfo | None) -> s.Affected:
    fields: dict[str, Any] = {"product_id": pid, "status": status}
    if info is None:
        return s.Affected(**fields)
    fields["product_name"] = info.name
    fields["vendor"] = next((name for cat, name in info.path if cat is s.BranchCategory.VENDOR), None)
    helper = info.helper
    if helper is not None and helper.cpe:
        fields["cpe"] = helper.cpe
    parsed = _purl.parse_purl(helper.purl) if helper is not None and helper.purl else None
    mapped = _purl.ecosystem_for_purl(parsed) if parsed is not None else None
    if helper is not None and helper.purl and mapped is not None:
        try:
            fields["package"] = s.Package(
                ecosystem=mapped[0], name=mapped[1], purl=_purl.strip_version(helper.purl)
            )
        except ValidationError:
            parsed = mapped = None  # a purl that names no valid OSV package: the product stays a product
    leaf = info.path[-1] if info.path else None
    if parsed is not None and parsed.version:
        fields["versions"] = (parsed.version,)
    elif leaf is not None and leaf[0] is s.BranchCategory.PRODUCT_VERSION and mapped is not None:
        fields["versions"] = (leaf[1],)
    elif leaf is not None and leaf[0] is s.BranchCategory.PRODUCT_VERSION_RANGE:
        vers = _purl.parse_vers(leaf[1])
        if vers is not None:
            scheme, intervals, exact = vers
            fields["ranges"] = _ranges(scheme, intervals)
            fields["versions"] = tuple(exact)
    try:
        return s.Affected(**fields)
    except ValidationError:
        # Derived fields (package, ranges) that do not validate are dropped; the product stays.
        return s.Affected(product_id=pid, status=status, product_name=info.name)


_WITHDRAWN = re.compile(r"^This advisory was withdrawn on (\S+)\.$")


def _special_notes(
    notes: list[s.Note],
) -> tuple[list[s.Note], s.ModelVulnerability | None, datetime | None]:
    """Split off the notes forewarn writes for what CSAF has no field for (AI fields, withdrawal)."""
    kept: list[s.Note] = []
    ai = None
    withdrawn = None
    for note in notes:
        if note.title == AI_NOTE_TITLE and note.category is s.NoteCategory.OTHER and ai is None:
            ai = _parse_ai_note(note.text)
            if ai is not None:
                continue
        if note.title == WITHDRAWN_NOTE_TITLE and withdrawn is None:
            m = _WITHDRAWN.match(note.text)
            when = _aware(m.group(1)) if m is not None else None
            if when is not None:
                withdrawn = when
                continue
        kept.append(note)
    return kept, ai, withdrawn


def _aware(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _ai_note_text(ai: s.ModelVulnerability) -> str:
    lines = [f"attack_class: {ai.attack_class.value}"]
    lines.extend(f"affected_model: {m}" for m in ai.affected_models)
    return "\n".join(lines)


def _parse_ai_note(text: str) -> s.ModelVulnerability | None:
    attack_class = None
    models: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if not sep:
            return None
        if key == "attack_class" and attack_class is None:
            attack_class = value
        elif key == "affected_model":
            models.append(value)
        else:
            return None
    try:
        return s.ModelVulnerability(attack_class=attack_class, affected_models=tuple(models))
    except ValidationError:
        return None


_DETAIL_CATEGORIES = (s.NoteCategory.DESCRIPTION, s.NoteCategory.DETAILS, s.NoteCategory.GENERAL)


def _split_ids(raw_ids: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[s.SystemId]]:
    """CSAF ``ids`` that are advisory identifiers (``GHSA``/``GHSA-xxxx``) vs other tracking ids."""
    id_like: list[str] = []
    others: list[s.SystemId] = []
    for item in raw_ids:
        text, system = item["text"], item["system_name"]
        m = _ID_LIKE.match(text)
        if m is not None and m.group(1) == system and len(text) <= s.MAX_ID_CHARS:
            id_like.append(text)
        else:
            others.append(s.SystemId(system_name=system, text=text))
    return id_like, others


def _fallback_id(tracking_id: str, index: int) -> str:
    base = re.sub(r"\s+", "_", tracking_id)[: s.MAX_ID_CHARS - 8]
    return f"{base}#{index + 1}"


def _advisory(
    v: Mapping[str, Any],
    index: int,
    pub: s.Publication,
    catalogue: Mapping[str, _ProductInfo],
    problems: list[Problem],
) -> s.Advisory | None:
    path = f"/vulnerabilities/{index}"
    before = len(problems)
    try:
        id_like, system_ids = _split_ids(v.get("ids") or ())
    except ValidationError as exc:
        problems.append(Problem(f"{path}/ids", _message(exc.errors(include_url=False)[0])))
        return None
    cve = v.get("cve")
    primary = id_like[0] if id_like else cve or _fallback_id(pub.id, index)
    aliases = [*id_like, *([cve] if cve else [])]

    notes = [_validate(s.Note, n, f"{path}/notes/{i}", problems) for i, n in enumerate(v.get("notes") or ())]
    kept_notes, ai, withdrawn = _special_notes([n for n in notes if n is not None])
    details = next((n.text for c in _DETAIL_CATEGORIES for n in kept_notes if n.category is c), None)

    affected: list[s.Affected] = []
    for status, pids in (v.get("product_status") or {}).items():
        affected.extend(_affected(pid, status, catalogue.get(pid)) for pid in pids)
    if len(affected) > s.MAX_AFFECTED:
        problems.append(Problem(f"{path}/product_status", f"more than {s.MAX_AFFECTED} product statuses"))

    severities: list[s.Severity] = []
    for j, score in enumerate(v.get("scores") or ()):
        for key, type_ in (("cvss_v3", s.SeverityType.CVSS_V3), ("cvss_v2", s.SeverityType.CVSS_V2)):
            if key in score:
                data = {
                    "type": type_,
                    "score": score[key]["vectorString"],
                    "base_score": score[key].get("baseScore"),
                    "product_ids": tuple(score["products"]),
                }
                rename = {"score": ("vectorString",), "base_score": ("baseScore",)}
                sev = _validate(s.Severity, data, f"{path}/scores/{j}/{key}", problems, rename)
                if sev is not None:
                    severities.append(sev)

    def each(cls: type[M], key: str) -> tuple[M, ...]:
        built = [
            _validate(cls, item, f"{path}/{key}/{i}", problems) for i, item in enumerate(v.get(key) or ())
        ]
        return tuple(b for b in built if b is not None)

    remediations = each(s.Remediation, "remediations")
    threats = each(s.Threat, "threats")
    flags = each(s.Flag, "flags")
    involvements = each(s.Involvement, "involvements")
    references = [
        _reference(r, f"{path}/references/{i}", problems) for i, r in enumerate(v.get("references") or ())
    ]
    credits_ = _credits(v.get("acknowledgments") or (), f"{path}/acknowledgments", problems)
    if len(problems) > before:
        return None
    data = {
        "id": primary,
        "aliases": tuple(aliases),
        "summary": v.get("title"),
        "details": details,
        "published": pub.initial_release_date,
        "modified": pub.current_release_date,
        "withdrawn": withdrawn,
        "discovered": v.get("discovery_date"),
        "released": v.get("release_date"),
        "affected": tuple(affected),
        "severities": tuple(severities),
        "cwes": (v["cwe"]["id"],) if "cwe" in v else (),
        "references": tuple(r for r in references if r is not None),
        "remediations": remediations,
        "credits": tuple(credits_),
        "threats": threats,
        "notes": tuple(kept_notes),
        "flags": flags,
        "involvements": involvements,
        "system_ids": tuple(system_ids),
        "tlp": pub.tlp,
        "ai": ai,
    }
    rename = {
        "summary": ("title",),
        "discovered": ("discovery_date",),
        "released": ("release_date",),
        "cwes": ("cwe",),
    }
    return _validate(s.Advisory, data, path, problems, rename)


def from_csaf(doc: Mapping[str, Any]) -> CsafDocument:
    """The publication and advisories of a CSAF 2.0 document; raises :class:`InvalidAdvisory` listing
    every problem (schema, mandatory tests, forewarn's limits and model rules)."""
    if not isinstance(doc, Mapping):
        raise InvalidAdvisory("not a CSAF document", problems=[Problem("", "expected a JSON object")])
    problems = _limit_problems(doc)
    if problems:
        raise InvalidAdvisory("CSAF document exceeds a limit", problems=problems)
    validate_csaf(doc)
    try:
        return _from_valid_csaf(doc, problems)
    except ValidationError as exc:  # models are built with their errors placed; this is a safety net
        raise InvalidAdvisory(
            "CSAF document is not a valid set of advisories", problems=problems_from(exc)
        ) from None


def _from_valid_csaf(doc: Mapping[str, Any], problems: list[Problem]) -> CsafDocument:
    publication = _publication(doc, problems)
    if publication is None:
        raise InvalidAdvisory("CSAF document is not a valid publication", problems=problems)
    catalogue = _catalogue(publication.product_tree)
    advisories = [
        _advisory(v, i, publication, catalogue, problems)
        for i, v in enumerate(doc.get("vulnerabilities") or ())
    ]
    if problems:
        raise InvalidAdvisory("CSAF document is not a valid set of advisories", problems=problems)
    return CsafDocument(publication=publication, advisories=tuple(a for a in advisories if a is not None))


def loads_csaf(raw: bytes | str) -> CsafDocument:
    """Parse one CSAF JSON document (bounded, strict JSON) and convert it."""
    return from_csaf(parse_json(raw, max_bytes=s.MAX_DOCUMENT_BYTES, what="CSAF document"))


# --------------------------------------------------------------------------------------------------
# internal -> CSAF
# --------------------------------------------------------------------------------------------------


def _ts(value: datetime) -> str:
    return s.format_timestamp(value)


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v not in ([], (), {})}


def _dump(model: BaseModel) -> dict[str, Any]:
    """A model as CSAF JSON: enum values, RFC 3339 timestamps, no empty or absent members."""
    out: dict[str, Any] = {}
    for key, value in model:
        if value is None or value == ():
            continue
        if isinstance(value, BaseModel):
            out[key] = _dump(value)
        elif isinstance(value, tuple):
            out[key] = [_dump(v) if isinstance(v, BaseModel) else v for v in value]
        elif isinstance(value, datetime):
            out[key] = _ts(value)
        else:
            out[key] = value.value if isinstance(value, Enum) else value
    return out


def _acknowledgments(credits_: Sequence[s.Credit]) -> list[dict[str, Any]]:
    groups: list[tuple[tuple[str | None, str | None, tuple[str, ...]], list[str]]] = []
    for credit in credits_:
        key = (credit.organization, credit.summary, credit.contact)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(credit.name)
        else:
            groups.append((key, [credit.name]))
    out = []
    for (org, summary, urls), names in groups:
        nameless = names in ([org], [summary]) and (org is not None or summary is not None)
        out.append(
            _drop_none(
                {
                    "names": None if nameless else names,
                    "organization": org,
                    "summary": summary,
                    "urls": list(urls),
                }
            )
        )
    return out


def _reference_out(ref: s.Reference) -> dict[str, Any]:
    return {
        "category": (ref.category or s.ReferenceCategory.EXTERNAL).value,
        "summary": ref.summary or ref.url,
        "url": ref.url,
    }


def _document(pub: s.Publication, tlp: s.Tlp | None, amber_strict: str) -> dict[str, Any]:
    tracking = _drop_none(
        {
            "aliases": list(pub.aliases),
            "current_release_date": _ts(pub.current_release_date),
            "generator": _drop_none(
                {
                    "date": _ts(pub.generator_date) if pub.generator_date else None,
                    "engine": _drop_none(
                        {"name": pub.generator_engine, "version": pub.generator_engine_version}
                    ),
                }
            )
            if pub.generator_engine
            else None,
            "id": pub.id,
            "initial_release_date": _ts(pub.initial_release_date),
            "revision_history": [_dump(r) for r in pub.revision_history],
            "status": pub.status.value,
            "version": pub.version,
        }
    )
    distribution_text = pub.distribution_text
    label = None
    if tlp is s.Tlp.AMBER_STRICT:
        if amber_strict != "red":
            raise InvalidAdvisory(
                "TLP:AMBER+STRICT has no CSAF 2.0 label",
                problems=[
                    Problem(
                        "/document/distribution/tlp/label",
                        "CSAF 2.0 knows WHITE, GREEN, AMBER, RED; AMBER would widen sharing. "
                        "Export with amber_strict='red' to mark it RED.",
                    )
                ],
            )
        label = "RED"
        marker = "TLP:AMBER+STRICT (FIRST TLP 2.0); CSAF 2.0 has no such label, marked RED."
        distribution_text = f"{marker} {distribution_text}" if distribution_text else marker
    elif tlp is not None:
        label = _TLP_TO_CSAF[tlp]
    distribution = _drop_none(
        {
            "text": distribution_text,
            "tlp": {"label": label, "url": pub.tlp_url or _TLP_URL} if label else None,
        }
    )
    return _drop_none(
        {
            "acknowledgments": _acknowledgments(pub.acknowledgments),
            "aggregate_severity": _drop_none(
                {
                    "namespace": pub.aggregate_severity_namespace,
                    "text": pub.aggregate_severity,
                }
            )
            if pub.aggregate_severity
            else None,
            "category": pub.category,
            "csaf_version": "2.0",
            "distribution": distribution or None,
            "lang": pub.lang,
            "notes": [_dump(n) for n in pub.notes],
            "publisher": _dump(pub.publisher),
            "references": [_reference_out(r) for r in pub.references],
            "source_lang": pub.source_lang,
            "title": pub.title,
            "tracking": tracking,
        }
    )


def _product_id(*key: str) -> str:
    digest = hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:16]
    return f"CSAFPID-{digest}"


class _Trie:
    """Branches built up from paths of (category, name), keeping first-seen order."""

    def __init__(self) -> None:
        self.children: dict[tuple[str, str], _Trie] = {}
        self.product: dict[str, Any] | None = None

    def add(self, path: Sequence[tuple[str, str]], product: dict[str, Any]) -> None:
        node = self
        for step in path:
            node = node.children.setdefault(step, _Trie())
        node.product = product

    def dump(self) -> list[dict[str, Any]]:
        out = []
        for (category, name), child in self.children.items():
            branch: dict[str, Any] = {"category": category, "name": name}
            if child.product is not None:
                branch["product"] = child.product
            if child.children:
                branch["branches"] = child.dump()
            out.append(branch)
        return out


def _intervals(range_: s.Range) -> list[_purl.Interval] | None:
    """The affected intervals of an OSV range in ascending order, when they can be known."""
    events = list(range_.events)
    if any(e.kind is s.EventKind.LIMIT for e in events):
        return None
    parsed = {e.version: parse_semver(e.version) for e in events if e.version != "0"}
    if all(parsed.values()):
        order = {s.EventKind.INTRODUCED: 1, s.EventKind.FIXED: 0, s.EventKind.LAST_AFFECTED: 2}

        def key(e: s.Event) -> tuple[Any, ...]:
            return (0,) if e.version == "0" else (1, parsed[e.version], order[e.kind])

        events.sort(key=key)
    intervals: list[_purl.Interval] = []
    lower: str | None = None
    open_ = False
    for event in events:
        if event.kind is s.EventKind.INTRODUCED:
            if open_:
                if all(parsed.values()):
                    continue  # sorted: a later introduced inside an open interval adds nothing
                return None
            lower, open_ = (None if event.version == "0" else event.version), True
        else:
            if not open_:
                if all(parsed.values()):
                    continue  # sorted: a fix outside any interval is redundant
                return None
            intervals.append(_purl.Interval(lower, event.version, event.kind is s.EventKind.LAST_AFFECTED))
            open_ = False
    if open_:
        intervals.append(_purl.Interval(lower, None))
    return intervals


class _TreeBuilder:
    """The product tree of an export: the publication's own tree, plus products for what it lacks."""

    def __init__(self, tree: s.ProductTree | None) -> None:
        self.base = tree
        self.known: set[str] = set(tree.products()) if tree is not None else set()
        self.trie = _Trie()
        self.extra_names: list[dict[str, Any]] = []

    def _new(self, pid: str) -> bool:
        if pid in self.known:
            return False
        self.known.add(pid)
        return True

    def _leaf(
        self, path: list[tuple[str, str]], pid: str, name: str, purl: str | None, cpe: str | None
    ) -> str:
        if self._new(pid):
            product: dict[str, Any] = {"name": name, "product_id": pid}
            helper = _drop_none({"cpe": cpe, "purl": purl})
            if helper:
                product["product_identification_helper"] = helper
            self.trie.add(path, product)
        return pid

    def products_for(self, entry: s.Affected) -> list[str]:
        if entry.product_id is not None:
            if self._new(entry.product_id):
                helper = _drop_none({"cpe": entry.cpe, "purl": entry.package.purl if entry.package else None})
                product: dict[str, Any] = {
                    "name": entry.product_name or entry.product_id,
                    "product_id": entry.product_id,
                }
                if helper:
                    product["product_identification_helper"] = helper
                self.extra_names.append(product)
            return [entry.product_id]
        if entry.package is not None:
            return self._package_products(entry, entry.package)
        if entry.product_name is not None:
            return self._named_products(entry, entry.product_name)
        repo = next(r.repo for r in entry.ranges if r.repo)  # an entry without either has GIT ranges
        path = [("product_name", repo)]
        return [self._leaf(path, _product_id("git", repo), repo, None, None)]

    def _versioned(
        self,
        entry: s.Affected,
        base: list[tuple[str, str]],
        label: str,
        scheme: str | None,
        purl_of: Callable[[str | None], str | None],
        key: tuple[str, ...],
    ) -> list[str]:
        pids: list[str] = []
        for range_ in entry.ranges:
            if range_.type is s.RangeType.GIT:
                continue
            intervals = _intervals(range_) if scheme is not None else None
            if not intervals:
                continue
            for iv in intervals:
                vers = _purl.build_vers(scheme or "generic", [iv])
                constraint = vers.partition("/")[2]
                pid = _product_id(*key, "range", vers)
                pids.append(
                    self._leaf(
                        [*base, ("product_version_range", vers)],
                        pid,
                        f"{label} {constraint}",
                        purl_of(None),
                        entry.cpe,
                    )
                )
        if not pids and 0 < len(entry.versions) <= _MAX_VERSION_PRODUCTS:
            for version in entry.versions:
                pid = _product_id(*key, "version", version)
                pids.append(
                    self._leaf(
                        [*base, ("product_version", version)],
                        pid,
                        f"{label} {version}",
                        purl_of(version),
                        entry.cpe,
                    )
                )
        if not pids:
            pids.append(self._leaf(base, _product_id(*key), label, purl_of(None), entry.cpe))
        return pids

    def _package_products(self, entry: s.Affected, package: s.Package) -> list[str]:
        purl = package.purl or _purl.purl_for_package(package.ecosystem, package.name)
        parsed = _purl.parse_purl(purl) if purl else None

        def purl_of(version: str | None) -> str | None:
            if purl is None or parsed is None:
                return None
            if version is None:
                return purl
            return _purl.build_purl(parsed.type, parsed.namespace, parsed.name, version)

        semver = all(r.type is s.RangeType.SEMVER for r in entry.ranges)
        scheme = _purl.vers_scheme(package.ecosystem, semver=semver and bool(entry.ranges))
        base = [("product_family", package.ecosystem), ("product_name", package.name)]
        key = ("package", package.ecosystem, package.name)
        return self._versioned(entry, base, package.name, scheme, purl_of, key)

    def _named_products(self, entry: s.Affected, name: str) -> list[str]:
        base = [("vendor", entry.vendor)] if entry.vendor else []
        base.append(("product_name", name))
        semver = bool(entry.ranges) and all(r.type is s.RangeType.SEMVER for r in entry.ranges)
        label = f"{entry.vendor} {name}" if entry.vendor else name
        key = ("product", entry.vendor or "", name)
        return self._versioned(entry, base, label, "semver" if semver else "generic", lambda _v: None, key)

    def model_products(self, models: Iterable[str]) -> list[str]:
        return [
            self._leaf(
                [("product_family", "AI models"), ("product_name", m)], _product_id("model", m), m, None, None
            )
            for m in models
        ]

    def dump(self) -> dict[str, Any] | None:
        base = _dump(self.base) if self.base is not None else {}
        extra_branches = self.trie.dump()
        if extra_branches:
            base["branches"] = [*base.get("branches", []), *extra_branches]
        if self.extra_names:
            base["full_product_names"] = [*base.get("full_product_names", []), *self.extra_names]
        return base or None


def _cvss_json(sev: s.Severity) -> tuple[str, dict[str, Any]] | None:
    import cvss

    if sev.type is s.SeverityType.CVSS_V3:
        data: dict[str, Any] = cvss.CVSS3(sev.score).as_json(minimal=True)
        key = "cvss_v3"
    elif sev.type is s.SeverityType.CVSS_V2:
        data = cvss.CVSS2(sev.score).as_json(minimal=True)
        key = "cvss_v2"
    else:
        return None  # CVSS v4.0 and Ubuntu priorities have no CSAF 2.0 field
    data["vectorString"] = sev.score
    return key, data


def _system_name(identifier: str) -> str:
    m = _ID_LIKE.match(identifier)
    return m.group(1) if m is not None else "advisory"


def _vulnerability(adv: s.Advisory, tree: _TreeBuilder) -> dict[str, Any]:
    status: dict[str, list[str]] = {}
    by_entry: list[tuple[s.Affected, list[str]]] = []
    for entry in adv.affected:
        pids = tree.products_for(entry)
        by_entry.append((entry, pids))
        bucket = status.setdefault(entry.status.value, [])
        bucket.extend(p for p in pids if p not in bucket)
    if adv.ai is not None:
        bucket = status.setdefault(s.ProductStatus.KNOWN_AFFECTED.value, [])
        bucket.extend(p for p in tree.model_products(adv.ai.affected_models) if p not in bucket)
    affected_pids = [p for st in s.AFFECTED_STATUSES for p in status.get(st.value, [])]
    all_pids = list(dict.fromkeys(p for pids in status.values() for p in pids))
    default_pids = affected_pids or all_pids

    scores: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    candidates = [(sev, list(sev.product_ids) or default_pids) for sev in adv.severities]
    candidates += [(sev, pids) for entry, pids in by_entry for sev in entry.severities]
    for sev, pids in candidates:
        dumped = _cvss_json(sev)
        if dumped is None:
            continue
        key, data = dumped
        kept = [p for p in pids if (p, key) not in seen]  # §6.1.7: one score per version and product
        seen.update((p, key) for p in kept)
        if kept:
            scores.append({"products": kept, key: data})

    notes = [_dump(n) for n in adv.notes]
    if adv.details is not None and all(n.text != adv.details for n in adv.notes):
        notes.insert(0, {"category": "description", "text": adv.details, "title": "Details"})
    if not notes and adv.summary is not None:
        notes.append({"category": "summary", "text": adv.summary, "title": "Summary"})
    if adv.ai is not None:
        notes.append({"category": "other", "text": _ai_note_text(adv.ai), "title": AI_NOTE_TITLE})
    if adv.withdrawn is not None:
        text = f"This advisory was withdrawn on {_ts(adv.withdrawn)}."
        notes.append({"category": "general", "text": text, "title": WITHDRAWN_NOTE_TITLE})

    def with_products(item: BaseModel, fill: list[str]) -> dict[str, Any]:
        out = _dump(item)
        if not out.get("product_ids") and not out.get("group_ids") and fill:
            out["product_ids"] = fill  # §6.1.29, §6.1.32: every remediation and flag names its products
        return out

    not_affected = status.get(s.ProductStatus.KNOWN_NOT_AFFECTED.value, [])
    cve = next((i for i in adv.all_ids() if _CVE.match(i)), None)
    ids = [{"system_name": _system_name(i), "text": i} for i in adv.all_ids() if i != cve]
    ids += [_dump(x) for x in adv.system_ids]
    cwe = next(({"id": c, "name": name} for c in adv.cwes if (name := cwe_name(c)) is not None), None)
    return _drop_none(
        {
            "acknowledgments": _acknowledgments(adv.credits),
            "cve": cve,
            "cwe": cwe,
            "discovery_date": _ts(adv.discovered) if adv.discovered else None,
            "flags": [with_products(f, not_affected) for f in adv.flags],
            "ids": ids,
            "involvements": [_dump(x) for x in adv.involvements],
            "notes": notes,
            "product_status": status,
            "references": [_reference_out(r) for r in adv.references],
            "release_date": _ts(adv.released) if adv.released else None,
            "remediations": [with_products(r, default_pids) for r in adv.remediations],
            "scores": scores,
            "threats": [_dump(t) for t in adv.threats],
            "title": adv.summary,
        }
    )


def _default_publication(advisory: s.Advisory, publisher: s.Publisher | None, category: str) -> s.Publication:
    if publisher is None:
        raise InvalidAdvisory(
            "a CSAF export needs a publisher",
            problems=[Problem("/document/publisher", "give a publication or a publisher")],
        )
    initial = advisory.published or advisory.modified
    initial = min(initial, advisory.modified)
    summary = advisory.summary or advisory.details or advisory.id
    return s.Publication(
        id=advisory.id,
        title=advisory.summary or advisory.id,
        category=category,
        publisher=publisher,
        version="1",
        status=s.DocumentStatus.FINAL,
        revision_history=(s.Revision(date=initial, number="1", summary="Initial version."),),
        initial_release_date=initial,
        current_release_date=advisory.modified,
        lang="en",
        notes=(s.Note(category=s.NoteCategory.SUMMARY, text=summary, title="Summary"),),
        tlp=advisory.tlp,
    )


def to_csaf(
    advisories: s.Advisory | Sequence[s.Advisory],
    *,
    publication: s.Publication | None = None,
    publisher: s.Publisher | None = None,
    category: Literal["csaf_security_advisory", "csaf_vex"] = "csaf_security_advisory",
    amber_strict: Literal["refuse", "red"] = "refuse",
) -> dict[str, Any]:
    """A CSAF 2.0 document of *advisories* that passes the schema and every mandatory test.

    With *publication* (for example the one :func:`from_csaf` returned, or one the clearinghouse keeps
    with its revision history) the document says what it says; without, a single advisory is published
    as version 1 by *publisher* in profile *category*. The document's TLP is the most restrictive of
    the publication's and the advisories'. Raises :class:`InvalidAdvisory` naming every problem.
    """
    items = [advisories] if isinstance(advisories, s.Advisory) else list(advisories)
    if publication is None:
        if len(items) != 1:
            raise InvalidAdvisory(
                "a CSAF export of several advisories needs a publication",
                problems=[Problem("/document", f"{len(items)} advisories and no publication")],
            )
        publication = _default_publication(items[0], publisher, category)
    tlp = s.most_restrictive_tlp([publication.tlp, *(a.tlp for a in items)])
    out: dict[str, Any] = {"document": _document(publication, tlp, amber_strict)}
    tree = _TreeBuilder(publication.product_tree)
    vulnerabilities = [_vulnerability(a, tree) for a in items]
    product_tree = tree.dump()
    if product_tree is not None:
        out["product_tree"] = product_tree
    if vulnerabilities:
        out["vulnerabilities"] = vulnerabilities
    validate_csaf(out, what=f"CSAF export of {publication.id}")
    return out
