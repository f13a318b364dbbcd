"""VEX: statements that a product is (not) affected by a vulnerability, and how they change matches.

Three formats carry them: CycloneDX VEX (``vulnerabilities[].analysis`` with ``affects[].ref``,
CycloneDX 1.4-1.6), OpenVEX (``statements[]``, v0.0.x and v0.2.x) and CSAF VEX (``product_status``
with ``flags`` and ``threats``, CSAF 2.0 §3.2.3.9, §3.2.3.5, §3.2.3.13). All become
:class:`VexStatement`.

Invariants:

- a statement applies to a match when one of its vulnerability ids (id or alias) is one of the
  advisory's ids (``Advisory.all_ids``: id and aliases, OSV §aliases) and one of its products is the
  component: the same OSV package (base ecosystem and normalised name, as
  :func:`~forewarn.clearinghouse.inventory.names.from_purl` reads the product's purl; qualifiers
  ignored) at the same version when the product names one, or the component's ``bom-ref``;
- of the statements that apply, the latest decides (by timestamp; a statement without one is older
  than any with one; among equals the one given last), as OpenVEX §Statement ordering specifies;
- only ``not_affected`` and ``fixed`` suppress a match, and the suppressed match keeps the statement
  (its justification, impact statement and source); ``affected`` and ``under_investigation`` leave
  it open. ``not_affected`` must carry a justification or an impact statement (OpenVEX §Status
  justifications; CycloneDX ``analysis.justification``; CSAF §6.1.27.9 asks the same of flags or
  threats), otherwise the document is refused;
- documents are bounded (:data:`MAX_STATEMENTS`, :data:`MAX_PRODUCTS`) and validated completely before
  any statement is returned; problems are reported at JSON Pointers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from forewarn.clearinghouse.advisories.schemas import (
    AFFECTED_STATUSES,
    Advisory,
    ProductStatus,
    Publication,
    ThreatCategory,
)
from forewarn.clearinghouse.inventory.errors import InvalidSbom, Problem, SbomTooLarge, pointer
from forewarn.clearinghouse.inventory.names import from_purl, split_ecosystem
from forewarn.clearinghouse.inventory.sbom import cyclonedx_schema_problems, load_json

__all__ = [
    "MAX_PRODUCTS",
    "MAX_STATEMENTS",
    "MAX_VEX_BYTES",
    "VexIndex",
    "VexStatement",
    "VexStatus",
    "from_csaf",
    "from_cyclonedx",
    "from_openvex",
    "parse_vex",
]

#: Largest VEX document accepted, in bytes.
MAX_VEX_BYTES = 16 * 1024 * 1024
#: Most statements in one document.
MAX_STATEMENTS = 100_000
#: Most products (and subcomponents) in one statement.
MAX_PRODUCTS = 10_000


class VexStatus(StrEnum):
    """The four VEX statuses (CISA "Minimum Requirements for VEX"; OpenVEX §Status labels)."""

    NOT_AFFECTED = "not_affected"
    AFFECTED = "affected"
    FIXED = "fixed"
    UNDER_INVESTIGATION = "under_investigation"


@dataclass(frozen=True, slots=True)
class VexStatement:
    """One statement: *products* (purls or bom-refs) have *status* for *vulnerability* (and its aliases)."""

    vulnerability: str
    status: VexStatus
    products: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    justification: str | None = None
    impact: str | None = None
    action: str | None = None
    timestamp: datetime | None = None
    source: str = ""

    @property
    def suppresses(self) -> bool:
        return self.status in (VexStatus.NOT_AFFECTED, VexStatus.FIXED)

    def ids(self) -> tuple[str, ...]:
        return (self.vulnerability, *self.aliases)


# --------------------------------------------------------------------------------------------------
# Reading documents
# --------------------------------------------------------------------------------------------------


def _problems_or_raise(problems: list[Problem], what: str) -> None:
    if problems:
        raise InvalidSbom(f"{what} is not a valid VEX document", problems=problems)


def _timestamp(value: Any, where: str, problems: list[Problem]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem(where, "expected an RFC 3339 timestamp"))
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        problems.append(Problem(where, f"{value[:40]!r} is not an RFC 3339 timestamp"))
        return None
    if parsed.tzinfo is None:
        problems.append(Problem(where, "a timestamp carries its time zone"))
        return None
    return parsed.astimezone(UTC)


def _text(value: Any, where: str, problems: list[Problem], *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 100_000:
        problems.append(Problem(where, "expected a non-empty string" if value is not None else "required"))
        return None
    return value.strip()


_CDX_STATE = {
    "not_affected": VexStatus.NOT_AFFECTED,
    "false_positive": VexStatus.NOT_AFFECTED,
    "resolved": VexStatus.FIXED,
    "resolved_with_pedigree": VexStatus.FIXED,
    "exploitable": VexStatus.AFFECTED,
    "in_triage": VexStatus.UNDER_INVESTIGATION,
}


def _bom_ref(ref: str) -> str:
    """A BOM-Link (``urn:cdx:serial/version#ref``) names the component by its fragment."""
    if ref.startswith("urn:cdx:") and "#" in ref:
        return ref.partition("#")[2]
    return ref


def from_cyclonedx(doc: Mapping[str, Any], *, text: str | None = None) -> list[VexStatement]:
    """Statements of a CycloneDX 1.4-1.6 JSON BOM's ``vulnerabilities`` (a VEX BOM or an SBOM with
    embedded VEX); vulnerabilities without ``analysis`` state nothing and are skipped."""
    import json

    spec = doc.get("specVersion")
    if doc.get("bomFormat") != "CycloneDX" or spec not in ("1.4", "1.5", "1.6"):
        raise InvalidSbom(
            "not a CycloneDX 1.4-1.6 document", problems=[Problem("/specVersion", "expected 1.4, 1.5 or 1.6")]
        )
    vulnerabilities = doc.get("vulnerabilities") or []
    if isinstance(vulnerabilities, list) and len(vulnerabilities) > MAX_STATEMENTS:
        raise SbomTooLarge("VEX document is too large", problems=[Problem("/vulnerabilities", "too many")])
    problems = cyclonedx_schema_problems(text if text is not None else json.dumps(doc), str(spec))
    _problems_or_raise(problems, "CycloneDX document")
    out: list[VexStatement] = []
    for i, vuln in enumerate(vulnerabilities):
        analysis = vuln.get("analysis")
        state = analysis.get("state") if isinstance(analysis, Mapping) else None
        if state is None:
            continue
        where = pointer("vulnerabilities", i)
        status = _CDX_STATE[state]
        justification = analysis.get("justification") or (
            "false_positive" if state == "false_positive" else None
        )
        # forewarn's own export keeps the exact CISA justification beside CycloneDX's nearest one.
        for prop in vuln.get("properties") or ():
            if (
                isinstance(prop, Mapping)
                and prop.get("name") == "forewarn:vex:justification"
                and prop.get("value") in _OPENVEX_JUSTIFICATIONS
            ):
                justification = str(prop["value"])
        detail = analysis.get("detail") or None
        if status is VexStatus.NOT_AFFECTED and not (justification or detail):
            problems.append(Problem(f"{where}/analysis", "not_affected needs a justification or a detail"))
            continue
        affects = [a["ref"] for a in vuln.get("affects") or () if isinstance(a, Mapping) and "ref" in a]
        if len(affects) > MAX_PRODUCTS:
            problems.append(Problem(f"{where}/affects", f"more than {MAX_PRODUCTS} products"))
            continue
        aliases = tuple(
            dict.fromkeys(
                r["id"] for r in vuln.get("references") or () if isinstance(r, Mapping) and r.get("id")
            )
        )
        when = _timestamp(
            analysis.get("lastUpdated")
            or analysis.get("firstIssued")
            or vuln.get("updated")
            or vuln.get("published"),
            f"{where}/analysis/lastUpdated",
            problems,
        )
        out.append(
            VexStatement(
                vulnerability=str(vuln.get("id") or (aliases[0] if aliases else "")),
                status=status,
                products=tuple(_bom_ref(str(a)) for a in affects),
                aliases=tuple(a for a in aliases if a != vuln.get("id")),
                justification=justification,
                impact=detail,
                action=", ".join(analysis.get("response") or ()) or None,
                timestamp=when,
                source=f"CycloneDX {doc.get('serialNumber') or ''}".strip(),
            )
        )
    _problems_or_raise(problems, "CycloneDX document")
    return [s for s in out if s.vulnerability]


_OPENVEX_JUSTIFICATIONS = frozenset(
    {
        "component_not_present",
        "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist",
    }
)


def _openvex_ids(value: Any, where: str, problems: list[Problem]) -> list[str]:
    """The ids a product or subcomponent object (or, in OpenVEX 0.0.x, string) gives."""
    if isinstance(value, str) and value.strip():
        return [value.strip()]
    if not isinstance(value, Mapping):
        problems.append(Problem(where, "expected a product object"))
        return []
    ids = [value["@id"]] if isinstance(value.get("@id"), str) else []
    identifiers = value.get("identifiers")
    if isinstance(identifiers, Mapping) and isinstance(identifiers.get("purl"), str):
        ids.append(identifiers["purl"])
    if not ids:
        problems.append(Problem(where, "a product needs an @id or identifiers.purl"))
    return ids


def from_openvex(doc: Mapping[str, Any]) -> list[VexStatement]:
    """Statements of an OpenVEX document (v0.0.x and v0.2.x).

    A statement's products are its products' subcomponents when it lists any (the statement is about
    the subcomponent inside the product, OpenVEX §Product), otherwise the products themselves.
    """
    problems: list[Problem] = []
    doc_time = _timestamp(doc.get("timestamp"), "/timestamp", problems)
    statements = doc.get("statements")
    if not isinstance(statements, list) or not statements:
        raise InvalidSbom(
            "OpenVEX document has no statements",
            problems=[Problem("/statements", "expected a non-empty array")],
        )
    if len(statements) > MAX_STATEMENTS:
        raise SbomTooLarge(
            "VEX document is too large", problems=[Problem("/statements", f"more than {MAX_STATEMENTS}")]
        )
    source = f"OpenVEX {doc.get('@id') or ''}".strip()
    out: list[VexStatement] = []
    for i, raw in enumerate(statements):
        where = pointer("statements", i)
        if not isinstance(raw, Mapping):
            problems.append(Problem(where, "expected an object"))
            continue
        vuln = raw.get("vulnerability")
        name: str | None
        aliases: list[str] = []
        if isinstance(vuln, Mapping):
            name = _text(
                vuln.get("name") or vuln.get("@id"), f"{where}/vulnerability/name", problems, required=True
            )
            if isinstance(vuln.get("aliases"), list):
                aliases = [a for a in vuln["aliases"] if isinstance(a, str) and a]
        else:
            name = _text(vuln, f"{where}/vulnerability", problems, required=True)
        try:
            status = VexStatus(str(raw.get("status")))
        except ValueError:
            problems.append(
                Problem(f"{where}/status", f"must be one of {', '.join(s.value for s in VexStatus)}")
            )
            continue
        justification = _text(raw.get("justification"), f"{where}/justification", problems)
        if justification is not None and justification not in _OPENVEX_JUSTIFICATIONS:
            problems.append(
                Problem(f"{where}/justification", f"{justification[:60]!r} is not an OpenVEX justification")
            )
        impact = _text(raw.get("impact_statement"), f"{where}/impact_statement", problems)
        if status is VexStatus.NOT_AFFECTED and justification is None and impact is None:
            problems.append(Problem(where, "not_affected needs a justification or an impact_statement"))
        products_raw = raw.get("products")
        if not isinstance(products_raw, list) or not products_raw:
            problems.append(Problem(f"{where}/products", "expected a non-empty array"))
            continue
        if len(products_raw) > MAX_PRODUCTS:
            problems.append(Problem(f"{where}/products", f"more than {MAX_PRODUCTS} products"))
            continue
        products: list[str] = []
        for j, product in enumerate(products_raw):
            subs = product.get("subcomponents") if isinstance(product, Mapping) else None
            if isinstance(subs, list) and subs:
                for k, sub in enumerate(subs[:MAX_PRODUCTS]):
                    products.extend(_openvex_ids(sub, f"{where}/products/{j}/subcomponents/{k}", problems))
            else:
                products.extend(_openvex_ids(product, f"{where}/products/{j}", problems))
        when = _timestamp(raw.get("timestamp"), f"{where}/timestamp", problems) or doc_time
        if name:
            out.append(
                VexStatement(
                    vulnerability=name,
                    status=status,
                    products=tuple(dict.fromkeys(products)),
                    aliases=tuple(a for a in dict.fromkeys(aliases) if a != name),
                    justification=justification,
                    impact=impact,
                    action=_text(raw.get("action_statement"), f"{where}/action_statement", problems),
                    timestamp=when,
                    source=source,
                )
            )
    _problems_or_raise(problems, "OpenVEX document")
    return out


_CSAF_STATUS = {
    ProductStatus.KNOWN_NOT_AFFECTED: VexStatus.NOT_AFFECTED,
    ProductStatus.FIXED: VexStatus.FIXED,
    ProductStatus.FIRST_FIXED: VexStatus.FIXED,
    ProductStatus.UNDER_INVESTIGATION: VexStatus.UNDER_INVESTIGATION,
}


def from_csaf(publication: Publication, advisories: Sequence[Advisory]) -> list[VexStatement]:
    """Statements of a CSAF document already read by the advisories codec (``csaf.loads_csaf``).

    Each product status becomes a statement about that product's purl (from its product
    identification helper, or, for a relationship, from the component it refers to); products
    without a purl are kept but match no component. Justifications come from ``flags`` (§3.2.3.5),
    impact statements from ``threats`` of category ``impact`` (§3.2.3.13).
    """
    tree = publication.product_tree
    purls: dict[str, str] = {}
    groups: dict[str, tuple[str, ...]] = {}
    if tree is not None:
        for pid, product in tree.products().items():
            helper = product.product_identification_helper
            if helper is not None and helper.purl:
                purls[pid] = helper.purl
        for rel in tree.relationships:
            pid = rel.full_product_name.product_id
            if pid not in purls and rel.product_reference in purls:
                purls[pid] = purls[rel.product_reference]
        groups = {g.group_id: g.product_ids for g in tree.product_groups}
    when = publication.current_release_date
    out: list[VexStatement] = []
    for advisory in advisories:
        justification: dict[str, str] = {}
        for flag in advisory.flags:
            for pid in (*flag.product_ids, *(p for g in flag.group_ids for p in groups.get(g, ()))):
                justification.setdefault(pid, flag.label.value)
        impact: dict[str, str] = {}
        for threat in advisory.threats:
            if threat.category is ThreatCategory.IMPACT:
                for pid in (*threat.product_ids, *(p for g in threat.group_ids for p in groups.get(g, ()))):
                    impact.setdefault(pid, threat.details)
        for entry in advisory.affected:
            if entry.product_id is None:
                continue
            status = (
                VexStatus.AFFECTED if entry.status in AFFECTED_STATUSES else _CSAF_STATUS.get(entry.status)
            )
            if status is None:
                continue  # "recommended" is no VEX status
            pid = entry.product_id
            out.append(
                VexStatement(
                    vulnerability=advisory.id,
                    status=status,
                    products=(purls[pid],) if pid in purls else (),
                    aliases=advisory.aliases,
                    justification=justification.get(pid),
                    impact=impact.get(pid),
                    timestamp=when,
                    source=f"CSAF {publication.id}",
                )
            )
    return out


CsafReader = Callable[[bytes], tuple[Publication, Sequence[Advisory]]]


def parse_vex(raw: bytes, *, read_csaf: CsafReader | None = None) -> list[VexStatement]:
    """The statements of one VEX document, its format detected: CycloneDX (``bomFormat``), OpenVEX
    (an ``@context`` under openvex.dev), CSAF (``document.csaf_version``, read with *read_csaf*, the
    advisories codec, which validates CSAF completely)."""
    if len(raw) > MAX_VEX_BYTES:
        raise SbomTooLarge(
            "VEX document is too large", problems=[Problem("", f"the limit is {MAX_VEX_BYTES} bytes")]
        )
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise InvalidSbom("VEX document is not UTF-8") from None
    doc = load_json(text, what="VEX document")
    if doc.get("bomFormat") == "CycloneDX":
        return from_cyclonedx(doc, text=text)
    context = doc.get("@context")
    if isinstance(context, str) and context.startswith("https://openvex.dev/ns"):
        return from_openvex(doc)
    document = doc.get("document")
    if isinstance(document, Mapping) and "csaf_version" in document:
        if read_csaf is None:
            raise InvalidSbom(
                "CSAF VEX needs the CSAF reader", problems=[Problem("/document", "no CSAF reader given")]
            )
        publication, advisories = read_csaf(raw)
        return from_csaf(publication, advisories)
    raise InvalidSbom(
        "not a VEX document",
        problems=[
            Problem("", "expected CycloneDX (bomFormat), OpenVEX (@context) or CSAF (document.csaf_version)")
        ],
    )


# --------------------------------------------------------------------------------------------------
# Applying statements
# --------------------------------------------------------------------------------------------------


PackageKey = tuple[str, str]  # (base OSV ecosystem, normalised name)


@dataclass(frozen=True, slots=True)
class _Product:
    """A statement's product, ready to compare: a package (from a purl) and maybe a version, or a
    reference (a bom-ref, or a purl forewarn cannot map to an OSV package, compared as text)."""

    ref: str | None
    package: PackageKey | None = None
    version: str | None = None


def _product(text: str) -> _Product:
    if text.startswith("pkg:"):
        try:
            found = from_purl(text)
        except ValueError:
            return _Product(text)
        if found.ecosystem is not None and found.name is not None:
            return _Product(None, (split_ecosystem(found.ecosystem)[0], found.name), found.version)
    return _Product(text)


class VexIndex:
    """Statements by vulnerability id, for :func:`~.engine.match_components`."""

    def __init__(self, statements: Iterable[VexStatement]) -> None:
        self._by_id: dict[str, list[tuple[int, VexStatement, tuple[_Product, ...]]]] = defaultdict(list)
        for order, statement in enumerate(statements):
            products = tuple(_product(p) for p in statement.products)
            for vid in dict.fromkeys(statement.ids()):
                self._by_id[vid].append((order, statement, products))

    def __len__(self) -> int:
        return len({id(s) for entries in self._by_id.values() for _, s, _ in entries})

    def decisive(self, component: Any, advisory: Advisory) -> VexStatement | None:
        """The statement that decides *component*'s status for *advisory*, if any applies."""
        candidates: dict[int, tuple[int, VexStatement, tuple[_Product, ...]]] = {}
        for vid in advisory.all_ids():
            for entry in self._by_id.get(vid, ()):
                candidates[entry[0]] = entry
        if not candidates:
            return None
        ecosystem, package = getattr(component, "ecosystem", None), getattr(component, "package", None)
        identity = (split_ecosystem(ecosystem)[0], package) if ecosystem and package else None
        best: tuple[datetime, int, VexStatement] | None = None
        floor = datetime.min.replace(tzinfo=UTC)
        for order, statement, products in candidates.values():
            if any(_applies(p, component, identity) for p in products):
                rank = (statement.timestamp or floor, order, statement)
                if best is None or rank[:2] >= best[:2]:
                    best = rank
        return best[2] if best is not None else None

    def suppressing(self, component: Any, advisory: Advisory) -> VexStatement | None:
        """The decisive statement when it suppresses the match (``not_affected`` or ``fixed``)."""
        statement = self.decisive(component, advisory)
        return statement if statement is not None and statement.suppresses else None


def _applies(product: _Product, component: Any, identity: PackageKey | None) -> bool:
    if product.ref is not None:
        return product.ref in (getattr(component, "ref", None), getattr(component, "purl", None))
    if identity is None or product.package != identity:
        return False
    return product.version is None or product.version == getattr(component, "version", None)
