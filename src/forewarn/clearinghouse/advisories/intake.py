"""Intake: recognise a document's format, parse it strictly, and turn it into internal advisories.

Pure (no database): the service stores what this returns, the ``validate`` command and route show
it. Invariants:

- a document larger than its limit is refused before it is parsed; so is one with more
  advisories than the per-document limit;
- a declared format is checked, never trusted; an undeclared one is recognised from the
  content (not from the file name, which only breaks ties for JSONL);
- every refusal is an :class:`InvalidAdvisory` naming the document and each field (JSON
  Pointer) that is wrong; nothing half-parsed is returned;
- the KEV catalogue is not a report: it is refused here with a pointer to its own import.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory, Problem, problems_from
from forewarn.clearinghouse.advisories.jsondoc import parse_json
from forewarn.clearinghouse.advisories.records import AffectedKind, ReportForm, SourceFormat

__all__ = ["Limits", "Parsed", "advisory_from_form", "detect_format", "named", "parse_document"]


@dataclass(frozen=True)
class Limits:
    max_bytes: int = s.MAX_DOCUMENT_BYTES
    max_advisories: int = 1_000
    max_lines: int = 200_000


@dataclass(frozen=True)
class Parsed:
    """A parsed document: its format, hash, and the advisories it holds (CSAF: with its publication)."""

    format: SourceFormat
    sha256: str
    advisories: tuple[s.Advisory, ...]
    publication: s.Publication | None = None


def _first_line(raw: bytes) -> str:
    head = raw[:65_536].lstrip()
    end = head.find(b"\n")
    return (head if end < 0 else head[:end]).decode("utf-8", "replace")


def detect_format(raw: bytes, filename: str | None = None) -> SourceFormat:
    """The format of a document, from its content; raises :class:`InvalidAdvisory` when unknown."""
    name = (filename or "").lower()
    first = _first_line(raw)
    looks_jsonl = name.endswith(".jsonl") or (first.startswith("{") and '"entry_type"' in first)
    if looks_jsonl:
        return SourceFormat.GARAK
    try:
        doc = parse_json(raw, max_bytes=len(raw) + 1)
    except InvalidAdvisory as exc:
        raise (named(exc, filename) if filename else exc) from None
    if isinstance(doc.get("document"), dict) and "csaf_version" in doc["document"]:
        return SourceFormat.CSAF
    if doc.get("dataType") == "CVE_RECORD" or "cveMetadata" in doc:
        return SourceFormat.CVE5
    if "runs" in doc and ("version" in doc or "$schema" in doc):
        return SourceFormat.SARIF
    if "catalogVersion" in doc and "vulnerabilities" in doc:
        raise InvalidAdvisory(
            "this is the CISA KEV catalogue, not a report",
            problems=[
                Problem(
                    "/catalogVersion", "import it with 'forewarn advisories kev' or POST /clearinghouse/kev"
                )
            ],
            source=filename,
        )
    if "schema_version" in doc or ("id" in doc and {"modified", "affected", "aliases"} & doc.keys()):
        return SourceFormat.OSV
    raise InvalidAdvisory(
        "unrecognised document",
        problems=[
            Problem(
                "",
                "expected an OSV record, a CSAF 2.0 document, a CVE JSON 5 record, SARIF 2.1.0 "
                "or a garak JSONL report",
            )
        ],
        source=filename,
    )


def _lines(raw: bytes) -> Iterator[bytes]:
    start = 0
    while start < len(raw):
        end = raw.find(b"\n", start)
        if end < 0:
            end = len(raw)
        yield raw[start:end]
        start = end + 1


def parse_document(
    raw: bytes,
    *,
    filename: str | None = None,
    declared: SourceFormat | None = None,
    limits: Limits | None = None,
    received: datetime | None = None,
) -> Parsed:
    """Parse one document of any intake format; raises :class:`InvalidAdvisory` naming *filename*."""
    from forewarn.core.clock import utcnow

    limits = limits or Limits()
    received = received or utcnow()
    source = filename or "document"
    try:
        if len(raw) > limits.max_bytes:
            raise InvalidAdvisory(
                "document is too large",
                problems=[Problem("", f"{len(raw)} bytes; the limit is {limits.max_bytes}")],
            )
        found = detect_format(raw, filename)
        if declared is not None and declared is not found and declared is not SourceFormat.FINDING:
            raise InvalidAdvisory(
                f"declared {declared.value} but this is {found.value}",
                problems=[Problem("", f"the content is a {found.value} document")],
            )
        sha = hashlib.sha256(raw).hexdigest()
        publication = None
        if found is SourceFormat.GARAK:
            from forewarn.clearinghouse.advisories.garak import from_garak

            advisories = tuple(from_garak(_lines(raw), sha256=sha, max_lines=limits.max_lines))
        else:
            doc = parse_json(raw, max_bytes=limits.max_bytes)
            if found is SourceFormat.OSV:
                from forewarn.clearinghouse.advisories.osv import from_osv

                advisories = (from_osv(doc),)
            elif found is SourceFormat.CSAF:
                from forewarn.clearinghouse.advisories.csaf import from_csaf

                converted = from_csaf(doc)
                advisories, publication = converted.advisories, converted.publication
                if not advisories:
                    raise InvalidAdvisory(
                        "CSAF document names no vulnerability",
                        problems=[Problem("/vulnerabilities", "is empty")],
                    )
            elif found is SourceFormat.CVE5:
                from forewarn.clearinghouse.advisories.cve5 import from_cve5

                advisories = (from_cve5(doc),)
            else:
                from forewarn.clearinghouse.advisories.sarif import from_sarif

                advisories = tuple(from_sarif(doc, sha256=sha, received=received))
        if len(advisories) > limits.max_advisories:
            raise InvalidAdvisory(
                "document holds too many vulnerabilities",
                problems=[Problem("", f"{len(advisories)}; the limit is {limits.max_advisories}")],
            )
        ids = [a.id for a in advisories]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise InvalidAdvisory(
                "document repeats a vulnerability id",
                problems=[Problem("", f"{dupes[0][:80]} appears twice")],
            )
        return Parsed(format=found, sha256=sha, advisories=advisories, publication=publication)
    except InvalidAdvisory as exc:
        raise named(exc, source) from None


def named(exc: InvalidAdvisory, source: str) -> InvalidAdvisory:
    """The same error with the document's name leading its message (API, pages and CLI show it)."""
    if exc.message.startswith(f"{source}: "):
        return exc
    return InvalidAdvisory(f"{source}: {exc.message}", problems=exc.problems)


_SLUG = re.compile(r"\s+")


def advisory_from_form(form: ReportForm, *, received: datetime, token: str) -> s.Advisory:
    """The advisory a plain-language report describes (``token`` makes its id unique)."""
    affected: list[s.Affected] = []
    ai = None
    versions = tuple(v.strip()[:200] for v in re.split(r"[,;\n]", form.versions or "") if v.strip())[:100]
    try:
        if form.affected_kind is AffectedKind.MODEL:
            model = _SLUG.sub("-", form.product.strip())[: s.MAX_ID_CHARS]
            ai = s.ModelVulnerability(
                attack_class=form.attack_class or s.AttackClass.OTHER, affected_models=(model,)
            )
        elif form.affected_kind is AffectedKind.PACKAGE and form.ecosystem:
            affected.append(
                s.Affected(package=s.Package(ecosystem=form.ecosystem, name=form.product), versions=versions)
            )
        else:
            affected.append(s.Affected(product_name=form.product, vendor=form.vendor, versions=versions))
        title = form.title or form.what_happened.strip().splitlines()[0][:120]
        return s.Advisory(
            id=f"x_FWR-{token}",
            summary=title,
            details=form.what_happened,
            modified=received,
            affected=tuple(affected),
            ai=ai,
            tlp=form.tlp,
        )
    except ValidationError as exc:
        raise InvalidAdvisory("the report cannot be read", problems=problems_from(exc)) from None
