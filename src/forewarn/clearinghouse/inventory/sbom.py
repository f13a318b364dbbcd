"""SBOMs and product lists → :class:`~.schemas.Inventory`: CycloneDX 1.4-1.6 (JSON, XML), SPDX 2.2/2.3
(JSON) and forewarn's CSV product list, with format detection.

Invariants:

- size and count limits (the constants below) are checked before the expensive steps: bytes before
  parsing, component counts and nesting before schema validation;
- JSON is strict (no duplicate keys, no ``NaN``, bounded nesting), XML forbids DTDs and entities
  (defusedxml), CSV is RFC 4180 in UTF-8;
- a document is validated completely before anything is returned: CycloneDX JSON against the
  CycloneDX JSON Schema of its ``specVersion`` (as shipped with cyclonedx-python-lib), SPDX by
  spdx-tools' parser and validator, CycloneDX XML and CSV by the checks below; every problem is
  reported at its place (:mod:`.errors`) and nothing partial is returned;
- every component the document names ends up in the inventory, scannable or unscannable with a
  reason (no purl and no ecosystem, a purl type without an OSV ecosystem, no version, a malformed
  purl); none is dropped. ``metadata.component`` (the product the BOM describes) counts as one.

CycloneDX XML is checked for what forewarn reads (root and namespace, component types, names, single
text fields, nesting); full XSD validation needs lxml (cyclonedx-python-lib's ``xml-validation``
extra), which forewarn does not depend on.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from forewarn.clearinghouse.inventory.errors import InvalidSbom, Problem, SbomTooLarge, pointer
from forewarn.clearinghouse.inventory.names import (
    canonical_ecosystem,
    from_purl,
    normalise_name,
    split_ecosystem,
)
from forewarn.clearinghouse.inventory.schemas import (
    MAX_FIELD_CHARS,
    Component,
    ComponentKind,
    Inventory,
    SbomFormat,
    Unscannable,
)
from forewarn.core.strictjson import StrictJsonError, loads_object

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = [
    "CSV_COLUMNS",
    "CYCLONEDX_VERSIONS",
    "MAX_COMPONENTS",
    "MAX_JSON_DEPTH",
    "MAX_NESTING",
    "MAX_SBOM_BYTES",
    "SPDX_VERSIONS",
    "cyclonedx_schema_problems",
    "load_json",
    "parse_csv",
    "parse_cyclonedx_json",
    "parse_cyclonedx_xml",
    "parse_sbom",
    "parse_spdx_json",
]

# --------------------------------------------------------------------------------------------------
# Limits (CONVENTIONS §8). Module constants for now; they move into settings with the service.
# --------------------------------------------------------------------------------------------------

#: Largest document accepted, in bytes (a container image's SBOM with its OS packages is a few MB).
MAX_SBOM_BYTES = 32 * 1024 * 1024
#: Most components (CycloneDX components at any depth, SPDX packages, CSV rows) in one document.
MAX_COMPONENTS = 100_000
#: Deepest nesting of CycloneDX components inside components.
MAX_NESTING = 32
#: Deepest nesting of JSON arrays and objects.
MAX_JSON_DEPTH = 64
#: Longest CSV field, in characters.
MAX_CSV_FIELD = MAX_FIELD_CHARS

CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6")
SPDX_VERSIONS = ("SPDX-2.2", "SPDX-2.3")
#: The columns of a CSV product list (docs/matching.md "CSV product lists").
CSV_COLUMNS = ("vendor", "product", "version", "ecosystem", "purl")

_CDX_TYPES = {
    "1.4": frozenset(
        {"application", "framework", "library", "container", "operating-system", "device", "firmware", "file"}
    ),
}
_CDX_TYPES["1.5"] = _CDX_TYPES["1.4"] | {"platform", "device-driver", "machine-learning-model", "data"}
_CDX_TYPES["1.6"] = _CDX_TYPES["1.5"] | {"cryptographic-asset"}
_CDX_NAMESPACE = re.compile(r"^\{http://cyclonedx\.org/schema/bom/(\d+\.\d+)\}bom$")
_SPDX_PURPOSE = {
    "APPLICATION": ComponentKind.APPLICATION,
    "FRAMEWORK": ComponentKind.FRAMEWORK,
    "LIBRARY": ComponentKind.LIBRARY,
    "CONTAINER": ComponentKind.CONTAINER,
    "OPERATING-SYSTEM": ComponentKind.OPERATING_SYSTEM,
    "DEVICE": ComponentKind.DEVICE,
    "FIRMWARE": ComponentKind.FIRMWARE,
    "FILE": ComponentKind.FILE,
}
_MAX_MESSAGE = 300


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


# --------------------------------------------------------------------------------------------------
# Entry point and detection
# --------------------------------------------------------------------------------------------------


def _check_size(raw: bytes, what: str) -> None:
    if len(raw) > MAX_SBOM_BYTES:
        raise SbomTooLarge(
            f"{what} is too large", problems=[Problem("", f"{len(raw)} bytes; the limit is {MAX_SBOM_BYTES}")]
        )


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise InvalidSbom(f"{what} is not UTF-8", problems=[Problem("", _short(str(exc)))]) from None


def parse_sbom(raw: bytes, *, format: SbomFormat | None = None) -> Inventory:
    """The inventory *raw* describes; the format is detected unless given.

    JSON is CycloneDX when it has ``bomFormat: "CycloneDX"`` and SPDX when it has ``spdxVersion``; XML
    is CycloneDX; anything else is read as a CSV product list. Raises :class:`InvalidSbom` (or
    :class:`SbomTooLarge`) listing every problem.
    """
    _check_size(raw, "document")
    text = _text(raw, "document")
    head = text.lstrip()[:1]
    if format in (SbomFormat.CYCLONEDX_JSON, SbomFormat.SPDX_JSON) or (format is None and head in ("{", "[")):
        doc = load_json(text, what="SBOM")
        if format is SbomFormat.SPDX_JSON or (format is None and "spdxVersion" in doc):
            return parse_spdx_json(doc)
        if format is SbomFormat.CYCLONEDX_JSON or doc.get("bomFormat") == "CycloneDX":
            return parse_cyclonedx_json(doc, text=text)
        raise InvalidSbom(
            "JSON document is neither CycloneDX nor SPDX",
            problems=[Problem("", 'expected "bomFormat": "CycloneDX" or an "spdxVersion"')],
        )
    if format is SbomFormat.CYCLONEDX_XML or (format is None and head == "<"):
        return parse_cyclonedx_xml(raw)
    return parse_csv(text)


# --------------------------------------------------------------------------------------------------
# Strict JSON
# --------------------------------------------------------------------------------------------------


def load_json(text: str, *, what: str = "document") -> dict[str, Any]:
    """One untrusted JSON object: no duplicate keys (RFC 8259 §4 leaves them undefined, and two readers
    disagreeing about a document is how a reviewed SBOM and a matched one come to differ), no
    ``NaN``/``Infinity``, at most :data:`MAX_JSON_DEPTH` levels."""
    if len(text) > MAX_SBOM_BYTES:
        raise SbomTooLarge(
            f"{what} is too large", problems=[Problem("", f"the limit is {MAX_SBOM_BYTES} bytes")]
        )
    try:
        return loads_object(text, max_depth=MAX_JSON_DEPTH)
    except StrictJsonError as exc:
        raise InvalidSbom(f"{what} is {exc.summary}", problems=[Problem("", _short(exc.detail))]) from None


# --------------------------------------------------------------------------------------------------
# One component → Component or Unscannable
# --------------------------------------------------------------------------------------------------


class _Collector:
    """Components and problems of one document, in document order."""

    def __init__(self) -> None:
        self.components: list[Component] = []
        self.unscannable: list[Unscannable] = []
        self.problems: list[Problem] = []

    def add(
        self,
        location: str,
        *,
        kind: ComponentKind,
        name: str | None,
        version: str | None,
        purl: str | None,
        ref: str | None = None,
        group: str | None = None,
        supplier: str | None = None,
        ecosystem: str | None = None,
        cpe: str | None = None,
        no_identity: str = "no purl",
    ) -> None:
        fields = {
            "ref": ref,
            "name": name,
            "group": group,
            "version": version,
            "purl": purl,
            "supplier": supplier,
        }
        for key, value in fields.items():
            if value is not None and len(value) > MAX_FIELD_CHARS:
                self.problems.append(
                    Problem(f"{location}/{key}", f"longer than {MAX_FIELD_CHARS} characters")
                )
                return
        base: dict[str, Any] = {
            "location": location,
            "kind": kind,
            **{k: v or None for k, v in fields.items()},
        }
        reason: str | None = None
        identity: dict[str, Any] = {}
        if purl:
            try:
                found = from_purl(purl)
            except ValueError as exc:
                reason = _short(f"the purl is malformed ({exc})")
            else:
                if found.reason is not None:
                    reason = found.reason
                else:
                    version = found.version or version
                    identity = {
                        "ecosystem": found.ecosystem,
                        "package": found.name,
                        "source_package": found.source_name,
                        "source_version": found.source_version,
                    }
        elif ecosystem and name:
            canonical = canonical_ecosystem(ecosystem)
            if canonical is None:
                reason = f"{ecosystem[:80]!r} is not an OSV ecosystem"
            elif split_ecosystem(canonical)[0] == "Maven" and ":" not in name:
                reason = "a Maven product is named groupId:artifactId"
            else:
                identity = {"ecosystem": canonical, "package": normalise_name(canonical, name)}
        elif ecosystem:
            reason = "no product name"
        else:
            reason = no_identity + (" (a CPE alone is not matched against OSV advisories)" if cpe else "")
            if kind in (ComponentKind.MACHINE_LEARNING_MODEL, ComponentKind.DATA):
                reason = f"a {kind.value} component without a purl of an OSV ecosystem"
        if reason is None and not version:
            reason = "no version"
        base["version"] = version or None
        try:
            if reason is None:
                self.components.append(Component(**base, **identity))
            else:
                self.unscannable.append(Unscannable(component=Component(**base), reason=reason))
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                where = "/".join(str(p) for p in error["loc"])
                self.problems.append(
                    Problem(
                        f"{location}/{where}" if where else location,
                        str(error["msg"]).removeprefix("Value error, "),
                    )
                )

    def count(self) -> int:
        return len(self.components) + len(self.unscannable)

    def inventory(self, fmt: SbomFormat, spec_version: str | None, name: str | None, what: str) -> Inventory:
        if self.problems:
            raise InvalidSbom(f"{what} has invalid components", problems=self.problems)
        return Inventory(
            format=fmt,
            spec_version=spec_version,
            name=(name[:MAX_FIELD_CHARS] if name else None),
            components=tuple(self.components),
            unscannable=tuple(self.unscannable),
        )


def _too_many(count: int, what: str) -> SbomTooLarge:
    return SbomTooLarge(
        f"{what} lists too many components",
        problems=[Problem("", f"{count} or more; the limit is {MAX_COMPONENTS}")],
    )


# --------------------------------------------------------------------------------------------------
# CycloneDX JSON
# --------------------------------------------------------------------------------------------------


def _json_components(doc: Mapping[str, Any]) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    """``(pointer, depth, component)`` for every component, metadata.component first, in document order."""
    roots: list[tuple[str, int, Any]] = []
    metadata = doc.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("component"), Mapping):
        roots.append((pointer("metadata", "component"), 1, metadata["component"]))
    if isinstance(doc.get("components"), list):
        roots.extend((pointer("components", i), 1, c) for i, c in enumerate(doc["components"]))
    stack = list(reversed(roots))
    while stack:
        path, depth, component = stack.pop()
        if not isinstance(component, Mapping):
            continue
        yield path, depth, component
        children = component.get("components")
        if isinstance(children, list):
            stack.extend(
                (f"{path}/components/{i}", depth + 1, child)
                for i, child in reversed(list(enumerate(children)))
            )


def _most_specific(error: Any) -> Any:
    """Descend a failed ``oneOf``/``anyOf`` into the branch that came closest."""
    while error.context:
        branches: dict[Any, list[Any]] = {}
        for sub in error.context:
            key = sub.relative_schema_path[0] if sub.relative_schema_path else None
            branches.setdefault(key, []).append(sub)
        closest = min(
            branches.values(), key=lambda errs: (len(errs), -max(len(e.absolute_path) for e in errs))
        )
        error = max(closest, key=lambda e: len(e.absolute_path))
    return error


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """JSON Schema ``uniqueItems`` in linear time (jsonschema compares every pair of objects, which takes
    minutes on a BOM of 20,000 components). Items are compared by their canonical JSON text."""
    from jsonschema.exceptions import ValidationError as SchemaError

    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for index, item in enumerate(instance):
        key = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if key in seen:
            yield SchemaError(f"item {index} repeats an earlier item (the array's items must be unique)")
            return
        seen.add(key)


@lru_cache(maxsize=4)
def _cyclonedx_validator(spec_version: str) -> Any:
    """A Draft 7 validator for the CycloneDX JSON Schema of *spec_version*, as cyclonedx-python-lib ships
    and builds it (same schema files, same referenced schemas, same format checker), with a linear
    ``uniqueItems``; ``None`` when the library's schema files are not where this expects them."""
    from importlib import resources

    from jsonschema.validators import Draft7Validator, extend
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    try:
        files = resources.files("cyclonedx.schema._res")
        schema = json.loads(files.joinpath(f"bom-{spec_version}.SNAPSHOT.schema.json").read_text("utf-8"))
        shared = {
            name: json.loads(files.joinpath(name).read_text("utf-8"))
            for name in (
                "spdx.SNAPSHOT.schema.json",
                "jsf-0.82.SNAPSHOT.schema.json",
                "cryptography-defs.SNAPSHOT.schema.json",
            )
        }
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    registry: Registry[Any] = Registry().with_resources(
        (f"http://cyclonedx.org/schema/{name}", DRAFT7.create_resource(doc)) for name, doc in shared.items()
    )
    validator_class = extend(Draft7Validator, {"uniqueItems": _unique_items})  # type: ignore[no-untyped-call]  # jsonschema leaves extend() untyped
    return validator_class(schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)


#: The schema files of one CycloneDX version, as ``$ref`` names them (relative to the root's ``$id``).
_CDX_SHARED = (
    "spdx.SNAPSHOT.schema.json",
    "jsf-0.82.SNAPSHOT.schema.json",
    "cryptography-defs.SNAPSHOT.schema.json",
)


@lru_cache(maxsize=4)
def _cyclonedx_check(spec_version: str) -> Callable[[Any], bool] | None:
    """The compiled valid / not-valid check (:mod:`._cdxschema`) of the same schema, format checker and
    ``uniqueItems`` as :func:`_cyclonedx_validator`; ``None`` when it cannot be compiled (then
    ``jsonschema`` alone validates: slower, never more lenient)."""
    from importlib import resources

    from jsonschema.validators import Draft7Validator

    from forewarn.clearinghouse.inventory._cdxschema import UnsupportedSchema, compile_cyclonedx

    root = f"bom-{spec_version}.SNAPSHOT.schema.json"
    try:
        files = resources.files("cyclonedx.schema._res")
        documents = {
            name: json.loads(files.joinpath(name).read_text("utf-8"))
            for name in (root, *_CDX_SHARED)
            if name == root or files.joinpath(name).is_file()
        }
        return compile_cyclonedx(root, documents, conforms=Draft7Validator.FORMAT_CHECKER.conforms)
    except (ModuleNotFoundError, FileNotFoundError, UnsupportedSchema):
        return None


def cyclonedx_schema_problems(
    text: str, spec_version: str, *, limit: int = 100, doc: Mapping[str, Any] | None = None
) -> list[Problem]:
    """Every violation of the CycloneDX JSON Schema of *spec_version* in the JSON *text* (*doc*, when
    given, is *text* already parsed: the compiled check reads it, and only a document it finds
    invalid is walked by ``jsonschema`` for its problems)."""
    check = _cyclonedx_check(spec_version)
    if check is not None and check(doc if doc is not None else json.loads(text)):
        return []
    validator = _cyclonedx_validator(spec_version)
    if validator is not None:
        errors: Iterable[Any] = validator.iter_errors(json.loads(text))
    else:  # the library moved its schema files: its own (slower) validator still checks everything
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonValidator

        found = JsonValidator(SchemaVersion.from_version(spec_version)).validate_str(text, all_errors=True)
        errors = (e.data for e in found or ())
    problems: list[Problem] = []
    for raw_error in errors:
        error = _most_specific(raw_error)
        problems.append(Problem(pointer(*error.absolute_path), _short(str(error.message))))
        if len(problems) >= limit:
            break
    return sorted(problems, key=lambda p: p.field)


def _check_cyclonedx_header(doc: Mapping[str, Any]) -> str:
    spec = doc.get("specVersion")
    if doc.get("bomFormat") != "CycloneDX":
        raise InvalidSbom(
            "not a CycloneDX document", problems=[Problem("/bomFormat", 'expected "CycloneDX"')]
        )
    if spec not in CYCLONEDX_VERSIONS:
        raise InvalidSbom(
            "unsupported CycloneDX version",
            problems=[
                Problem("/specVersion", f"{str(spec)[:20]!r}; forewarn reads {', '.join(CYCLONEDX_VERSIONS)}")
            ],
        )
    return str(spec)


def _supplier(component: Mapping[str, Any]) -> str | None:
    supplier = component.get("supplier")
    if isinstance(supplier, Mapping) and isinstance(supplier.get("name"), str):
        return str(supplier["name"])
    for key in ("publisher", "author"):
        if isinstance(component.get(key), str):
            return str(component[key])
    return None


def parse_cyclonedx_json(doc: Mapping[str, Any], *, text: str | None = None) -> Inventory:
    """A CycloneDX 1.4-1.6 JSON BOM (already parsed with :func:`load_json`; *text* is its source)."""
    spec = _check_cyclonedx_header(doc)
    for count, (path, depth, _) in enumerate(_json_components(doc), 1):
        if count > MAX_COMPONENTS:
            raise _too_many(count, "BOM")
        if depth > MAX_NESTING:
            raise InvalidSbom(
                "BOM nests components too deeply", problems=[Problem(path, f"deeper than {MAX_NESTING}")]
            )
    problems = cyclonedx_schema_problems(text if text is not None else json.dumps(doc), spec, doc=doc)
    if problems:
        raise InvalidSbom(f"BOM does not match the CycloneDX {spec} schema", problems=problems)
    found = _Collector()
    for path, _, c in _json_components(doc):
        found.add(
            path,
            kind=ComponentKind(c.get("type", "library")),
            name=c.get("name"),
            group=c.get("group"),
            version=c.get("version"),
            purl=c.get("purl"),
            ref=c.get("bom-ref"),
            supplier=_supplier(c),
            cpe=c.get("cpe"),
        )
    metadata = doc.get("metadata")
    product = metadata.get("component") if isinstance(metadata, Mapping) else None
    name = product.get("name") if isinstance(product, Mapping) else None
    return found.inventory(SbomFormat.CYCLONEDX_JSON, spec, name, "BOM")


# --------------------------------------------------------------------------------------------------
# CycloneDX XML
# --------------------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def parse_cyclonedx_xml(raw: bytes) -> Inventory:
    """A CycloneDX 1.4-1.6 XML BOM."""
    # defusedxml ships no type information (and types-defusedxml is not a dependency)
    from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
    from defusedxml import ElementTree as SafeElementTree

    _check_size(raw, "BOM")
    try:
        root: Element = SafeElementTree.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InvalidSbom(
            "BOM is refused", problems=[Problem("", f"XML with a DTD or entities: {type(exc).__name__}")]
        ) from None
    except SafeElementTree.ParseError as exc:
        raise InvalidSbom("BOM is not well-formed XML", problems=[Problem("", _short(str(exc)))]) from None
    m = _CDX_NAMESPACE.match(root.tag)
    if m is None:
        raise InvalidSbom(
            "not a CycloneDX XML document",
            problems=[
                Problem(
                    "/", "the root element must be <bom> in a http://cyclonedx.org/schema/bom/1.x namespace"
                )
            ],
        )
    spec = m.group(1)
    if spec not in CYCLONEDX_VERSIONS:
        raise InvalidSbom(
            "unsupported CycloneDX version",
            problems=[Problem("/bom", f"{spec}; forewarn reads {', '.join(CYCLONEDX_VERSIONS)}")],
        )
    ns = "{http://cyclonedx.org/schema/bom/" + spec + "}"
    problems: list[Problem] = []

    def children(element: Element, name: str) -> list[Element]:
        return [c for c in element if c.tag == ns + name]

    def text_of(element: Element, name: str, path: str) -> str | None:
        found = children(element, name)
        if not found:
            return None
        if len(found) > 1:
            problems.append(Problem(f"{path}/{name}", "appears more than once"))
        if len(found[0]):
            problems.append(Problem(f"{path}/{name}", "must hold text, not elements"))
        value = (found[0].text or "").strip()
        return value or None

    roots: list[tuple[str, int, Element]] = []
    for metadata in children(root, "metadata")[:1]:
        roots.extend(("/bom/metadata/component", 1, c) for c in children(metadata, "component")[:1])
    for components in children(root, "components")[:1]:
        roots.extend(
            (f"/bom/components/component[{i}]", 1, c)
            for i, c in enumerate(children(components, "component"), 1)
        )
    found = _Collector()
    stack = list(reversed(roots))
    count = 0
    allowed = _CDX_TYPES[spec]
    while stack:
        path, depth, element = stack.pop()
        count += 1
        if count > MAX_COMPONENTS:
            raise _too_many(count, "BOM")
        if depth > MAX_NESTING:
            raise InvalidSbom(
                "BOM nests components too deeply", problems=[Problem(path, f"deeper than {MAX_NESTING}")]
            )
        type_ = element.get("type")
        if type_ not in allowed:
            problems.append(
                Problem(f"{path}/@type", f"{str(type_)[:40]!r} is not a CycloneDX {spec} component type")
            )
            type_ = "library"
        name = text_of(element, "name", path)
        if name is None:
            problems.append(Problem(f"{path}/name", "a component needs a name"))
        supplier = None
        for supplier_el in children(element, "supplier")[:1]:
            supplier = text_of(supplier_el, "name", f"{path}/supplier")
        if len(problems) < 200:
            found.add(
                path,
                kind=ComponentKind(type_),
                name=name,
                group=text_of(element, "group", path),
                version=text_of(element, "version", path),
                purl=text_of(element, "purl", path),
                ref=element.get("bom-ref"),
                supplier=supplier or text_of(element, "publisher", path) or text_of(element, "author", path),
                cpe=text_of(element, "cpe", path),
            )
        for nested in children(element, "components")[:1]:
            kids = children(nested, "component")
            stack.extend(
                (f"{path}/components/component[{i}]", depth + 1, kid)
                for i, kid in reversed(list(enumerate(kids, 1)))
            )
    found.problems[:0] = problems
    product = None
    for metadata in children(root, "metadata")[:1]:
        for component in children(metadata, "component")[:1]:
            product = text_of(component, "name", "/bom/metadata/component")
    return found.inventory(SbomFormat.CYCLONEDX_XML, spec, product, "BOM")


# --------------------------------------------------------------------------------------------------
# SPDX 2.2 / 2.3 JSON
# --------------------------------------------------------------------------------------------------


def _spdx_purl(package: Mapping[str, Any]) -> str | None:
    for ref in package.get("externalRefs") or ():
        if (
            isinstance(ref, Mapping)
            and str(ref.get("referenceCategory", "")).replace("_", "-") == "PACKAGE-MANAGER"
            and ref.get("referenceType") == "purl"
            and isinstance(ref.get("referenceLocator"), str)
        ):
            return str(ref["referenceLocator"])
    return None


def _spdx_supplier(package: Mapping[str, Any]) -> str | None:
    value = package.get("supplier")
    if not isinstance(value, str) or value == "NOASSERTION":
        return None
    return value.partition(":")[2].strip() or value


def _spdx_shape(doc: Mapping[str, Any], packages: list[Any]) -> list[Problem]:
    """The required fields (SPDX 2.3 §6, §7) and the types of what forewarn reads, at their JSON Pointers;
    spdx-tools checks the rest, with messages that name its Python attributes instead."""
    problems: list[Problem] = []

    def need(obj: Mapping[str, Any], key: str, where: str, kind: type = str) -> None:
        value = obj.get(key)
        if value is None:
            problems.append(Problem(f"{where}/{key}", "required"))
        elif not isinstance(value, kind) or (isinstance(value, str | list) and not value):
            problems.append(Problem(f"{where}/{key}", f"expected a non-empty {kind.__name__}"))

    for key in ("SPDXID", "name", "dataLicense", "documentNamespace"):
        need(doc, key, "")
    need(doc, "creationInfo", "", dict)
    info = doc.get("creationInfo")
    if isinstance(info, Mapping):
        need(info, "created", "/creationInfo")
        need(info, "creators", "/creationInfo", list)
    for i, package in enumerate(packages):
        where = pointer("packages", i)
        if not isinstance(package, Mapping):
            problems.append(Problem(where, "expected an object"))
            continue
        for key in ("SPDXID", "name", "downloadLocation"):
            need(package, key, where)
        for key in ("versionInfo", "supplier", "primaryPackagePurpose"):
            if key in package and not isinstance(package[key], str):
                problems.append(Problem(f"{where}/{key}", "expected a string"))
        refs = package.get("externalRefs")
        if refs is not None and not (isinstance(refs, list) and all(isinstance(r, Mapping) for r in refs)):
            problems.append(Problem(f"{where}/externalRefs", "expected an array of objects"))
    return problems


def _spdx_relationship_problems(document: Any, relationships: list[Any], version: str) -> list[Problem]:
    """spdx-tools' relationship checks (SPDX 2.3 §11), in linear time: both ends are well-formed SPDX ids
    of elements this document defines (or of an external document it references); types that SPDX 2.2
    does not know are refused in a 2.2 document."""
    from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
    from spdx_tools.spdx.model.spdx_none import SpdxNone
    from spdx_tools.spdx.validation.spdx_id_validators import validate_spdx_id

    known = {document.creation_info.spdx_id}
    known.update(e.spdx_id for e in (*document.packages, *document.files, *document.snippets))
    external = {ref.document_ref_id for ref in document.creation_info.external_document_refs}
    problems: list[Problem] = []
    for rel in relationships:
        label = f"{rel.spdx_element_id} {rel.relationship_type.name} {rel.related_spdx_element_id}"
        ends = [rel.spdx_element_id]
        if not isinstance(rel.related_spdx_element_id, SpdxNone | SpdxNoAssertion):
            ends.append(rel.related_spdx_element_id)
        for end in ends:
            messages = validate_spdx_id(end, document)  # the form only; presence is checked here
            ref, colon, _ = end.partition(":")
            if not messages and not (end in known or (colon and ref in external)):
                messages = [f"did not find the referenced spdx_id {end} in the SPDX document"]
            problems.extend(Problem("/relationships", _short(f"{label}: {m}")) for m in messages)
        if version == "SPDX-2.2" and rel.relationship_type.name in (
            "SPECIFICATION_FOR",
            "REQUIREMENT_DESCRIPTION_FOR",
        ):
            problems.append(Problem("/relationships", f"{label}: not a relationship type of SPDX-2.2"))
        if len(problems) > 100:
            break
    return problems


def parse_spdx_json(doc: Mapping[str, Any]) -> Inventory:
    """An SPDX 2.2 or 2.3 JSON document; every package is a component."""
    from spdx_tools.spdx.parser.error import SPDXParsingError
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    version = doc.get("spdxVersion")
    if version not in SPDX_VERSIONS:
        raise InvalidSbom(
            "unsupported SPDX version",
            problems=[
                Problem("/spdxVersion", f"{str(version)[:20]!r}; forewarn reads {', '.join(SPDX_VERSIONS)}")
            ],
        )
    packages = doc.get("packages") or []
    if not isinstance(packages, list):
        raise InvalidSbom("SPDX document is invalid", problems=[Problem("/packages", "expected an array")])
    if len(packages) > MAX_COMPONENTS:
        raise _too_many(len(packages), "SPDX document")
    problems = _spdx_shape(doc, packages)
    if problems:
        raise InvalidSbom(f"SPDX document does not validate as {version}", problems=problems)
    try:
        # spdx-tools' constructors are untyped; the parser may keep references into the dict it reads
        document = JsonLikeDictParser().parse(copy.deepcopy(dict(doc)))  # type: ignore[no-untyped-call]
    except SPDXParsingError as exc:
        messages = exc.get_messages()  # type: ignore[no-untyped-call]  # spdx-tools leaves it untyped
        raise InvalidSbom(
            "SPDX document cannot be read", problems=[Problem("", _short(str(m))) for m in messages]
        ) from None
    where = {
        p.get("SPDXID"): pointer("packages", i) for i, p in enumerate(packages) if isinstance(p, Mapping)
    }
    # spdx-tools checks each relationship against a fresh list of every element id (quadratic: minutes
    # for a few thousand packages). It sees one DESCRIBES relationship (it requires one); forewarn checks
    # all the others the same way, in one pass.
    relationships = list(document.relationships)
    first = next((r for r in relationships if r.relationship_type.name == "DESCRIBES"), None)
    document.relationships = [first] if first is not None else []
    messages = validate_full_spdx_document(document, str(version))
    problems = [
        Problem(where.get(m.context.spdx_id, "") if m.context else "", _short(str(m.validation_message)))
        for m in messages
    ]
    problems += _spdx_relationship_problems(
        document, [r for r in relationships if r is not first], str(version)
    )
    if problems:
        raise InvalidSbom(f"SPDX document does not validate as {version}", problems=problems)
    found = _Collector()
    for i, package in enumerate(packages):
        purpose = package.get("primaryPackagePurpose")
        found.add(
            pointer("packages", i),
            kind=_SPDX_PURPOSE.get(str(purpose), ComponentKind.OTHER if purpose else ComponentKind.LIBRARY),
            name=package.get("name"),
            version=package.get("versionInfo"),
            purl=_spdx_purl(package),
            ref=package.get("SPDXID"),
            supplier=_spdx_supplier(package),
        )
    return found.inventory(
        SbomFormat.SPDX_JSON, str(version).removeprefix("SPDX-"), doc.get("name"), "SPDX document"
    )


# --------------------------------------------------------------------------------------------------
# CSV product list
# --------------------------------------------------------------------------------------------------


def _csv_rows(text: str) -> Iterable[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def parse_csv(text: str) -> Inventory:
    """A CSV product list: a header naming some of :data:`CSV_COLUMNS`, then one product per row.

    Lines whose first field starts with ``#`` and empty lines are skipped. A row is matched by its
    purl, or by its ecosystem and product name; rows with neither, or without a version, are kept as
    unscannable. See docs/matching.md "CSV product lists".
    """
    if len(text) > MAX_SBOM_BYTES:
        raise SbomTooLarge(
            "product list is too large", problems=[Problem("", f"the limit is {MAX_SBOM_BYTES} bytes")]
        )
    columns: list[str] | None = None
    found = _Collector()
    problems: list[Problem] = []
    try:
        for line, row in _csv_rows(text):
            if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            long_fields = [col for col, cell in enumerate(row, 1) if len(cell) > MAX_CSV_FIELD]
            if long_fields:
                problems.extend(
                    Problem(f"line {line}:{col}", f"longer than {MAX_CSV_FIELD} characters")
                    for col in long_fields
                )
                continue
            if columns is None:
                columns = _csv_header(row, line)
                continue
            if len(row) != len(columns):
                problems.append(Problem(f"line {line}", f"{len(row)} fields; the header has {len(columns)}"))
                continue
            if found.count() >= MAX_COMPONENTS:
                raise _too_many(found.count() + 1, "product list")
            values = {c: cell.strip() or None for c, cell in zip(columns, row, strict=True)}
            _csv_row(found, problems, line, columns, values)
            if len(problems) > 200:
                break
    except csv.Error as exc:
        raise InvalidSbom(
            "product list is not valid CSV", problems=[*problems, Problem("", _short(str(exc)))]
        ) from None
    if columns is None:
        raise InvalidSbom(
            "not an SBOM or product list",
            problems=[
                Problem(
                    "",
                    "expected CycloneDX (JSON or XML), SPDX JSON, or a CSV product list with a header naming "
                    f"some of: {', '.join(CSV_COLUMNS)}",
                )
            ],
        )
    found.problems[:0] = problems
    return found.inventory(SbomFormat.CSV, None, None, "product list")


def _csv_header(row: list[str], line: int) -> list[str]:
    names = [cell.strip().lower() for cell in row]
    problems = [
        Problem(
            f"line {line}:{col}", f"unknown column {name[:40]!r}; the columns are {', '.join(CSV_COLUMNS)}"
        )
        for col, name in enumerate(names, 1)
        if name not in CSV_COLUMNS
    ]
    seen: set[str] = set()
    for col, name in enumerate(names, 1):
        if name in seen:
            problems.append(Problem(f"line {line}:{col}", f"column {name!r} appears twice"))
        seen.add(name)
    if not problems and "product" not in seen and "purl" not in seen:
        problems.append(Problem(f"line {line}", "the header needs a product or a purl column"))
    if problems:
        raise InvalidSbom("not an SBOM or product list: the CSV header is invalid", problems=problems)
    return names


def _csv_row(
    found: _Collector, problems: list[Problem], line: int, columns: list[str], values: dict[str, str | None]
) -> None:
    def at(column: str) -> str:
        return f"line {line}:{columns.index(column) + 1}"

    purl, ecosystem, version = values.get("purl"), values.get("ecosystem"), values.get("version")
    if purl:
        try:
            given = from_purl(purl)
        except ValueError as exc:
            problems.append(Problem(at("purl"), _short(str(exc))))
            return
        if version and given.version and version != given.version:
            problems.append(
                Problem(
                    at("version"), f"{version[:80]!r} differs from the purl's version {given.version[:80]!r}"
                )
            )
            return
        if ecosystem and given.ecosystem:
            canonical = canonical_ecosystem(ecosystem)
            if canonical is None or split_ecosystem(canonical)[0] != split_ecosystem(given.ecosystem)[0]:
                problems.append(
                    Problem(
                        at("ecosystem"),
                        f"{ecosystem[:80]!r} differs from the purl's ecosystem {given.ecosystem}",
                    )
                )
                return
        if version and not given.version:
            purl = _with_version(purl, version)
    found.add(
        f"line {line}",
        kind=ComponentKind.APPLICATION,
        name=values.get("product"),
        version=version,
        purl=purl,
        supplier=values.get("vendor"),
        ecosystem=None if purl else ecosystem,
        no_identity="no purl and no ecosystem",
    )


def _with_version(purl: str, version: str) -> str:
    """*purl* with ``@version`` added (a CSV row may give the version in its own column)."""
    from urllib.parse import quote

    cut = min((i for i in (purl.find("?"), purl.find("#")) if i != -1), default=len(purl))
    return f"{purl[:cut]}@{quote(version, safe='.+-_~:')}{purl[cut:]}"
