"""CVE JSON 5 records (CVE Record Format 5.x) → the internal :class:`~.schemas.Advisory`.

What is read, from the CNA container (and, for metrics and problem types the CNA did not give,
from ADP containers such as CISA's):

- ``cveMetadata``: ``cveId`` (the advisory id), ``datePublished``, ``dateUpdated``; a ``REJECTED``
  record becomes a withdrawn advisory with the rejection reason as its details;
- ``title`` and ``descriptions`` (English first) → summary and details;
- ``affected[]``: ``collectionURL``/``packageName`` (or a purl in ``packageURL``) name an OSV package
  when they identify a known registry, else the entry is a vendor/product; ``versions[]`` with
  ``lessThan``/``lessThanOrEqual``/``changes`` become OSV ranges (``semver`` → SEMVER, ``git`` → GIT
  on the entry's ``repo``, any other ``versionType`` → ECOSYSTEM), plain versions a version list;
  ``defaultStatus`` and ``status`` give the product status;
- ``metrics[]``: ``cvssV3_1``, ``cvssV3_0``, ``cvssV4_0``, ``cvssV2_0`` vectors (rescored; a base
  score that disagrees with the vector is refused);
- ``problemTypes`` CWE ids, ``references`` (tags → OSV reference types), ``credits``,
  ``solutions`` (→ vendor fix) and ``workarounds`` (→ workaround).

Invariants: the record is checked structurally (every field read has the type the CVE schema gives
it, with limits) before anything is built, and every problem names its JSON Pointer. forewarn ships
no copy of the CVE JSON 5 schema; see the module's tests for the records it is held to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from forewarn.clearinghouse.advisories import _purl
from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory, Problem, pointer, problems_from
from forewarn.clearinghouse.advisories.jsondoc import parse_json

__all__ = ["COLLECTION_ECOSYSTEMS", "from_cve5", "loads_cve5"]

_CVE_ID = re.compile(r"^CVE-[0-9]{4}-[0-9]{4,19}$")
_CWE = re.compile(r"\bCWE-([1-9][0-9]{0,5})\b")

#: ``collectionURL`` of package registries → OSV ecosystem.
COLLECTION_ECOSYSTEMS: dict[str, str] = {
    "https://pypi.org": "PyPI",
    "https://pypi.python.org": "PyPI",
    "https://www.npmjs.com": "npm",
    "https://registry.npmjs.org": "npm",
    "https://repo.maven.apache.org/maven2": "Maven",
    "https://repo1.maven.org/maven2": "Maven",
    "https://crates.io": "crates.io",
    "https://pkg.go.dev": "Go",
    "https://proxy.golang.org": "Go",
    "https://rubygems.org": "RubyGems",
    "https://www.nuget.org": "NuGet",
    "https://packagist.org": "Packagist",
    "https://hex.pm": "Hex",
    "https://pub.dev": "Pub",
    "https://cran.r-project.org": "CRAN",
    "https://hackage.haskell.org": "Hackage",
}

_REFERENCE_TAGS: tuple[tuple[str, s.ReferenceType], ...] = (
    ("patch", s.ReferenceType.FIX),
    ("vendor-advisory", s.ReferenceType.ADVISORY),
    ("third-party-advisory", s.ReferenceType.ADVISORY),
    ("government-resource", s.ReferenceType.ADVISORY),
    ("exploit", s.ReferenceType.EVIDENCE),
    ("issue-tracking", s.ReferenceType.REPORT),
    ("mailing-list", s.ReferenceType.DISCUSSION),
    ("technical-description", s.ReferenceType.ARTICLE),
    ("media-coverage", s.ReferenceType.ARTICLE),
    ("product", s.ReferenceType.PACKAGE),
    ("related", s.ReferenceType.WEB),
)
_CREDIT_TYPES = {t.value.lower().replace("_", " "): t for t in s.CreditType}
_METRICS = (
    ("cvssV3_1", s.SeverityType.CVSS_V3),
    ("cvssV3_0", s.SeverityType.CVSS_V3),
    ("cvssV4_0", s.SeverityType.CVSS_V4),
    ("cvssV2_0", s.SeverityType.CVSS_V2),
)


class _Reader:
    """Typed access to an untrusted record; a wrong type is a problem at its pointer, not a crash."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def get(
        self, obj: Any, key: str, kind: type | tuple[type, ...], path: str, *, required: bool = False
    ) -> Any:
        if not isinstance(obj, Mapping) or key not in obj:
            if required:
                self.problems.append(Problem(f"{path}/{key}", "is required"))
            return None
        value = obj[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            self.problems.append(Problem(f"{path}/{key}", f"expected {_kind_name(kind)}"))
            return None
        if isinstance(value, str) and len(value) > s.MAX_LONG_TEXT:
            self.problems.append(Problem(f"{path}/{key}", "text is too long"))
            return None
        if isinstance(value, list) and len(value) > s.MAX_AFFECTED:
            self.problems.append(Problem(f"{path}/{key}", f"more than {s.MAX_AFFECTED} items"))
            return None
        return value

    def items(self, obj: Any, key: str, path: str) -> list[tuple[str, Mapping[str, Any]]]:
        """``(pointer, object)`` for each item of a list of objects."""
        value = self.get(obj, key, list, path)
        out = []
        for i, item in enumerate(value or ()):
            if isinstance(item, Mapping):
                out.append((f"{path}/{key}/{i}", item))
            else:
                self.problems.append(Problem(f"{path}/{key}/{i}", "expected an object"))
        return out


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        list: "an array",
        dict: "an object",
        Mapping: "an object",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in _kinds(kind)))


def _english(r: _Reader, container: Mapping[str, Any], key: str, path: str) -> str | None:
    """The English text of a list of ``{lang, value}`` (CVE ``descriptions``, ``solutions``, ...)."""
    texts = []
    for p, item in r.items(container, key, path):
        lang = r.get(item, "lang", str, p, required=True)
        value = r.get(item, "value", str, p, required=True)
        if isinstance(lang, str) and isinstance(value, str) and value.strip():
            texts.append((not lang.lower().startswith("en"), value))
    texts.sort(key=lambda t: t[0])
    return texts[0][1] if texts else None


def _package(r: _Reader, item: Mapping[str, Any], path: str) -> s.Package | None:
    purl_text = r.get(item, "packageURL", str, path)
    if purl_text:
        parsed = _purl.parse_purl(purl_text)
        mapped = _purl.ecosystem_for_purl(parsed) if parsed else None
        if mapped is not None:
            try:
                return s.Package(ecosystem=mapped[0], name=mapped[1], purl=_purl.strip_version(purl_text))
            except ValidationError:
                return None
    collection = r.get(item, "collectionURL", str, path)
    name = r.get(item, "packageName", str, path)
    if not collection or not name:
        return None
    ecosystem = COLLECTION_ECOSYSTEMS.get(collection.rstrip("/"))
    if ecosystem is None:
        return None
    if ecosystem == "PyPI":
        name = _purl.normalize_pypi_name(name)
    try:
        return s.Package(ecosystem=ecosystem, name=name, purl=_purl.purl_for_package(ecosystem, name))
    except ValidationError:
        return None


def _range_type(version_type: str | None) -> s.RangeType:
    if version_type == "semver":
        return s.RangeType.SEMVER
    if version_type == "git":
        return s.RangeType.GIT
    return s.RangeType.ECOSYSTEM


def _event(r: _Reader, kind: s.EventKind, version: str, path: str) -> s.Event | None:
    try:
        return s.Event(kind=kind, version=version)
    except ValidationError:
        r.problems.append(Problem(path, "not a usable version string"))
        return None


def _versions(
    r: _Reader, item: Mapping[str, Any], path: str, default_affected: bool
) -> tuple[list[tuple[s.RangeType, list[s.Event]]], list[str], bool]:
    """Ranges (by type), plain affected versions, and whether anything is affected."""
    ranges: list[tuple[s.RangeType, list[s.Event]]] = []
    plain: list[str] = []
    any_affected = default_affected
    for p, v in r.items(item, "versions", path):
        version = r.get(v, "version", str, p, required=True)
        status = r.get(v, "status", str, p, required=True)
        less_than = r.get(v, "lessThan", str, p)
        less_equal = r.get(v, "lessThanOrEqual", str, p)
        version_type = r.get(v, "versionType", str, p)
        changes = r.items(v, "changes", p)
        if status not in ("affected", "unaffected", "unknown"):
            if status is not None:
                r.problems.append(Problem(f"{p}/status", "must be affected, unaffected or unknown"))
            continue
        if version is None:
            continue
        start = "0" if version in ("0", "*") else version
        if status == "affected":
            any_affected = True
            if less_than is None and less_equal is None:
                plain.append(version)
                continue
            # CVE 5 "changes" flip the status at versions inside the range; walk the timeline into
            # intervals. Intervals closed by a fix share one OSV range; one closed by "<=" (last
            # affected) gets its own, since OSV forbids fixed and last_affected in one range.
            fixed_events = [_event(r, s.EventKind.INTRODUCED, start, f"{p}/version")]
            last_range: list[s.Event | None] = []
            affected_now = True
            for cp, change in changes:
                at = r.get(change, "at", str, cp, required=True)
                to = r.get(change, "status", str, cp, required=True)
                if at and to == "unaffected" and affected_now:
                    fixed_events.append(_event(r, s.EventKind.FIXED, at, f"{cp}/at"))
                    affected_now = False
                elif at and to == "affected" and not affected_now:
                    fixed_events.append(_event(r, s.EventKind.INTRODUCED, at, f"{cp}/at"))
                    affected_now = True
            if affected_now and less_than is not None and less_than != "*":
                fixed_events.append(_event(r, s.EventKind.FIXED, less_than, f"{p}/lessThan"))
            elif affected_now and less_equal is not None and less_equal != "*":
                opening = fixed_events.pop()  # the interval still open moves to a range of its own
                last_range = [
                    opening,
                    _event(r, s.EventKind.LAST_AFFECTED, less_equal, f"{p}/lessThanOrEqual"),
                ]
            for events in (fixed_events, last_range):
                if events:
                    ranges.append((_range_type(version_type), [e for e in events if e is not None]))
        elif status == "unaffected" and default_affected and less_than == "*" and start != "0":
            # "affected by default; unaffected from <version> on": a fix at <version>.
            fixed = _event(r, s.EventKind.FIXED, start, f"{p}/version")
            if fixed is not None:
                ranges.append(
                    (_range_type(version_type), [s.Event(kind=s.EventKind.INTRODUCED, version="0"), fixed])
                )
    return ranges, plain, any_affected


def _affected(r: _Reader, item: Mapping[str, Any], path: str) -> s.Affected | None:
    vendor = r.get(item, "vendor", str, path)
    product = r.get(item, "product", str, path)
    repo = r.get(item, "repo", str, path)
    default_status = r.get(item, "defaultStatus", str, path)
    cpes = r.get(item, "cpes", list, path) or []
    package = _package(r, item, path)
    ranges_raw, plain, any_affected = _versions(r, item, path, default_status == "affected")
    before = len(r.problems)
    ranges: list[s.Range] = []
    for j, (type_, events) in enumerate(ranges_raw):
        try:
            ranges.append(
                s.Range(type=type_, events=tuple(events), repo=repo if type_ is s.RangeType.GIT else None)
            )
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                msg = str(error["msg"]).removeprefix("Value error, ")
                r.problems.append(Problem(f"{path}/versions", f"range {j + 1}: {msg}"))
    if len(r.problems) > before:
        return None
    if any_affected:
        status = s.ProductStatus.KNOWN_AFFECTED
    elif default_status == "unknown" and not ranges_raw and not plain:
        status = s.ProductStatus.UNDER_INVESTIGATION
    else:
        status = s.ProductStatus.KNOWN_NOT_AFFECTED
    product_name = None if product in (None, "n/a") else product
    cpe = next((c for c in cpes if isinstance(c, str) and c.startswith("cpe:")), None)
    try:
        return s.Affected(
            package=package,
            product_name=product_name or (package.name if package else None),
            vendor=None if vendor in (None, "n/a") else vendor,
            cpe=cpe,
            status=status,
            ranges=tuple(ranges),
            versions=tuple(plain),
        )
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            r.problems.append(
                Problem(path + pointer(*error["loc"]), str(error["msg"]).removeprefix("Value error, "))
            )
        return None


def _severities(r: _Reader, containers: list[tuple[str, Mapping[str, Any]]]) -> list[s.Severity]:
    out: list[s.Severity] = []
    seen: set[str] = set()
    for cpath, container in containers:
        for p, metric in r.items(container, "metrics", cpath):
            for key, type_ in _METRICS:
                body = r.get(metric, key, dict, p)
                if body is None:
                    continue
                vector = r.get(body, "vectorString", str, f"{p}/{key}", required=True)
                base = r.get(body, "baseScore", (int, float), f"{p}/{key}")
                if not vector or vector in seen:
                    continue
                seen.add(vector)
                try:
                    out.append(s.Severity(type=type_, score=vector, base_score=base))
                except ValidationError as exc:
                    for error in exc.errors(include_url=False):
                        where = "/vectorString" if error["loc"] == ("score",) else ""
                        msg = str(error["msg"]).removeprefix("Value error, ")
                        r.problems.append(Problem(f"{p}/{key}{where}", msg))
        if out:
            break  # the CNA's metrics when it gave any, else the first ADP container's
    return out


def _cwes(r: _Reader, containers: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
    found: list[str] = []
    for cpath, container in containers:
        for p, problem_type in r.items(container, "problemTypes", cpath):
            for dp, description in r.items(problem_type, "descriptions", p):
                cwe_id = r.get(description, "cweId", str, dp)
                text = cwe_id or r.get(description, "description", str, dp) or ""
                m = _CWE.search(text)
                if m is not None:
                    found.append(f"CWE-{m.group(1)}")
        if found:
            break
    return list(dict.fromkeys(found))


def _reference(r: _Reader, item: Mapping[str, Any], path: str) -> s.Reference | None:
    url = r.get(item, "url", str, path, required=True)
    name = r.get(item, "name", str, path)
    tags = [t for t in r.get(item, "tags", list, path) or () if isinstance(t, str)]
    type_ = next((t for tag, t in _REFERENCE_TAGS if tag in tags), s.ReferenceType.WEB)
    if url is None:
        return None
    try:
        return s.Reference(url=url, type=type_, summary=name or None)
    except ValidationError:
        r.problems.append(Problem(f"{path}/url", "must be an absolute URL"))
        return None


def _credit(r: _Reader, item: Mapping[str, Any], path: str) -> s.Credit | None:
    value = r.get(item, "value", str, path, required=True)
    kind = r.get(item, "type", str, path)
    if not value or not value.strip():
        return None
    try:
        return s.Credit(name=value.strip()[: s.MAX_SHORT_TEXT], type=_CREDIT_TYPES.get((kind or "").lower()))
    except ValidationError:
        r.problems.append(Problem(f"{path}/value", "not a usable name"))
        return None


def from_cve5(doc: Mapping[str, Any]) -> s.Advisory:
    """The advisory a CVE JSON 5 record describes; raises :class:`InvalidAdvisory` listing every problem."""
    try:
        return _from_cve5(doc)
    except ValidationError as exc:  # models are built with their errors placed; this is a safety net
        raise InvalidAdvisory("CVE record is not a valid advisory", problems=problems_from(exc)) from None


def _from_cve5(doc: Mapping[str, Any]) -> s.Advisory:
    r = _Reader()
    if not isinstance(doc, Mapping):
        raise InvalidAdvisory("not a CVE record", problems=[Problem("", "expected a JSON object")])
    if doc.get("dataType") != "CVE_RECORD":
        r.problems.append(Problem("/dataType", "must be CVE_RECORD"))
    version = r.get(doc, "dataVersion", (str, int, float), "", required=True)
    if version is not None and not str(version).startswith("5"):
        r.problems.append(Problem("/dataVersion", "only CVE JSON 5.x is read"))
    meta = r.get(doc, "cveMetadata", dict, "", required=True) or {}
    cve_id = r.get(meta, "cveId", str, "/cveMetadata", required=True)
    if cve_id is not None and not _CVE_ID.match(cve_id):
        r.problems.append(Problem("/cveMetadata/cveId", "must look like CVE-2024-12345"))
    state = r.get(meta, "state", str, "/cveMetadata", required=True)
    if state not in (None, "PUBLISHED", "REJECTED"):
        r.problems.append(Problem("/cveMetadata/state", "must be PUBLISHED or REJECTED"))
    published = r.get(meta, "datePublished", str, "/cveMetadata")
    updated = r.get(meta, "dateUpdated", str, "/cveMetadata")
    rejected = r.get(meta, "dateRejected", str, "/cveMetadata")
    reserved = r.get(meta, "dateReserved", str, "/cveMetadata")
    containers = r.get(doc, "containers", dict, "", required=True) or {}
    cna = r.get(containers, "cna", dict, "/containers", required=True) or {}
    adps = r.items(containers, "adp", "/containers")
    if r.problems:
        raise InvalidAdvisory("not a CVE JSON 5 record", problems=r.problems)

    cna_path = "/containers/cna"
    all_containers = [(cna_path, cna), *adps]
    title = r.get(cna, "title", str, cna_path)
    if state == "REJECTED":
        details = _english(r, cna, "rejectedReasons", cna_path)
    else:
        details = _english(r, cna, "descriptions", cna_path)
    affected = [_affected(r, item, p) for p, item in r.items(cna, "affected", cna_path)]
    severities = _severities(r, all_containers)
    cwes = _cwes(r, all_containers)
    references = [_reference(r, item, p) for p, item in r.items(cna, "references", cna_path)]
    credits_ = [_credit(r, item, p) for p, item in r.items(cna, "credits", cna_path)]
    remediations = []
    for key, category in (
        ("solutions", s.RemediationCategory.VENDOR_FIX),
        ("workarounds", s.RemediationCategory.WORKAROUND),
    ):
        text = _english(r, cna, key, cna_path)
        if text:
            remediations.append(s.Remediation(category=category, details=text))
    if r.problems:
        raise InvalidAdvisory(f"CVE record {cve_id} is not a valid advisory", problems=r.problems)
    modified = updated or published or rejected or reserved
    if modified is None:
        raise InvalidAdvisory(
            f"CVE record {cve_id} has no date", problems=[Problem("/cveMetadata/dateUpdated", "is required")]
        )
    try:
        return s.Advisory(
            id=cve_id,
            summary=title.strip()[: s.MAX_SHORT_TEXT] if title and title.strip() else None,
            details=details,
            published=published,
            modified=modified,
            withdrawn=(rejected or updated or modified) if state == "REJECTED" else None,
            affected=tuple(a for a in affected if a is not None),
            severities=tuple(severities),
            cwes=tuple(cwes),
            references=tuple(x for x in references if x is not None),
            credits=tuple(c for c in credits_ if c is not None),
            remediations=tuple(remediations),
        )
    except ValidationError as exc:
        rename = {
            "published": "cveMetadata/datePublished",
            "modified": "cveMetadata/dateUpdated",
            "summary": "containers/cna/title",
        }
        problems = []
        for error in exc.errors(include_url=False):
            head = error["loc"][0] if error["loc"] else ""
            where = "/" + rename[head] if isinstance(head, str) and head in rename else pointer(*error["loc"])
            problems.append(Problem(where, str(error["msg"]).removeprefix("Value error, ")))
        raise InvalidAdvisory(f"CVE record {cve_id} is not a valid advisory", problems=problems) from None


def loads_cve5(raw: bytes | str) -> s.Advisory:
    """Parse one CVE JSON 5 record (bounded, strict JSON) and convert it."""
    return from_cve5(parse_json(raw, max_bytes=s.MAX_DOCUMENT_BYTES, what="CVE record"))
