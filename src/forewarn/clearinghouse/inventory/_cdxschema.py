"""The CycloneDX JSON Schemas (Draft 7, with their ``$ref`` to the SPDX licence list and JSF
schemas) compiled to closures that answer valid / not valid; ``jsonschema`` stays the reference
and names the problems.

Why: ``jsonschema`` spends about 0.4 ms per CycloneDX 1.6 component (a validator re-created for
every sub-schema, every ``$ref`` looked up in the registry), so a 1,000-component SBOM costs about
0.4 s of validation alone, most of an upload. Compiled once, the same checks cost a few
milliseconds.

Invariants:

- :func:`compile_cyclonedx` refuses (``UnsupportedSchema``) a schema with any keyword it does not
  implement or know to be an annotation, and any ``$ref`` it cannot resolve among the documents it
  was given, so a new CycloneDX release can never make it silently lenient; callers then use
  ``jsonschema`` alone;
- the compiled check answers exactly what ``sbom._cyclonedx_validator(spec).is_valid`` answers:
  Draft 7 rules (a ``$ref`` hides its siblings; ``items`` as a list with ``additionalItems``; an
  integer may be written ``1.0``), ``format`` through the same ``jsonschema`` format checker, and
  ``uniqueItems`` as forewarn's linear variant (items compared by their canonical JSON text); tests
  compare the two on the public SBOMs, on every mutation of them and on generated documents;
- it only answers valid / not valid: every "not valid" is re-checked by ``jsonschema``, which names
  each problem, and which is trusted if the two ever disagree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from forewarn.core.jsontypes import type_check

__all__ = ["Check", "UnsupportedSchema", "compile_cyclonedx"]

Check = Callable[[Any], bool]
FormatCheck = Callable[[Any, str], bool]

#: Keywords that assert nothing in Draft 7 (annotations, containers of definitions), and the
#: CycloneDX schemas' own annotation ``meta:enum``. ``then``/``else`` are compiled with ``if``.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "examples", "default", "definitions",
     "deprecated", "readOnly", "writeOnly", "meta:enum", "then", "else"}
)  # fmt: skip


class UnsupportedSchema(ValueError):
    """The schema uses a keyword or reference this compiler does not implement."""


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


def _is_type(name: str) -> Check:
    check = type_check(name)
    if check is None:
        raise UnsupportedSchema(f"type {name!r}")
    return check


def _equal(a: Any, b: Any) -> bool:
    """JSON equality as ``jsonschema`` decides it: booleans are not numbers, 1 == 1.0."""
    if isinstance(a, str) or isinstance(b, str):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _scalar(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int) else type(value).__name__


def _fingerprint(item: Any) -> Any:
    """Equal for items whose canonical JSON texts are equal (and for some others): a cheap first
    sort, so that only items sharing one are serialised and compared."""
    if isinstance(item, dict):
        return tuple(sorted((k, _scalar(v)) for k, v in item.items()))
    return _scalar(item)


def _unique(v: Any) -> bool:
    """forewarn's ``uniqueItems`` (see ``sbom._unique_items``): canonical JSON texts all distinct."""
    if not isinstance(v, list) or len(v) < 2:
        return True
    buckets: dict[Any, list[Any]] = {}
    shared = False
    for item in v:
        bucket = buckets.setdefault(_fingerprint(item), [])
        shared = shared or bool(bucket)
        bucket.append(item)
    if not shared:
        return True
    for items in buckets.values():
        seen: set[str] = set()
        for item in items if len(items) > 1 else ():
            key = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            if key in seen:
                return False
            seen.add(key)
    return True


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    return lambda v: all(c(v) for c in checks)


class _Compiler:
    def __init__(self, documents: Mapping[str, Mapping[str, Any]], conforms: FormatCheck) -> None:
        self.documents = documents
        self.conforms = conforms
        self.refs: dict[tuple[str, str], Check] = {}

    def ref(self, target: str, document: str) -> Check:
        name, _, fragment = target.partition("#")
        name = name or document
        if name not in self.documents:
            raise UnsupportedSchema(f"$ref {target!r}: no such document")
        if fragment and not fragment.startswith("/"):
            raise UnsupportedSchema(f"$ref {target!r}: only JSON Pointer fragments")
        key = (name, fragment)
        if key not in self.refs:
            holder: list[Check] = []
            self.refs[key] = lambda v: holder[0](v)  # noqa: PLW0108 -- late-bound: recursive schemas compile
            node: Any = self.documents[name]
            for part in fragment.split("/")[1:]:
                node = node[part.replace("~1", "/").replace("~0", "~")]
            holder.append(self.compile(node, name))
        return self.refs[key]

    def compile(self, schema: Any, document: str) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, Mapping):
            raise UnsupportedSchema("a schema is an object or a boolean")
        if "$ref" in schema:  # Draft 7: a $ref's siblings are ignored
            return self.ref(schema["$ref"], document)
        # The cheap type check first: a wrong type fails before its properties are walked.
        keys = sorted(schema, key=lambda k: k != "type")
        return _all(
            [
                self.keyword(key, schema[key], schema, document)
                for key in keys
                if key not in _ANNOTATIONS and key != "additionalItems"
            ]
        )

    def keyword(self, key: str, value: Any, schema: Mapping[str, Any], document: str) -> Check:
        if key == "type":
            types = [_is_type(n) for n in (value if isinstance(value, list) else [value])]
            return types[0] if len(types) == 1 else (lambda v: any(t(v) for t in types))
        if key == "properties":
            props = {name: self.compile(sub, document) for name, sub in value.items()}

            def properties(v: Any) -> bool:
                if not isinstance(v, dict):
                    return True
                for name, item in v.items():
                    check = props.get(name)
                    if check is not None and not check(item):
                        return False
                return True

            return properties
        if key == "required":
            names = list(value)
            return lambda v: not isinstance(v, dict) or all(n in v for n in names)
        if key == "additionalProperties":
            if "patternProperties" in schema:
                raise UnsupportedSchema("patternProperties")
            known = frozenset(schema.get("properties", {}))
            if value is False:
                return lambda v: not isinstance(v, dict) or known.issuperset(v)
            extra = self.compile(value, document)
            return lambda v: not isinstance(v, dict) or all(extra(v[k]) for k in v if k not in known)
        if key == "items":
            if isinstance(value, list):
                prefix = [self.compile(sub, document) for sub in value]
                rest = self.compile(schema.get("additionalItems", True), document)
                n = len(prefix)
                return lambda v: (
                    not isinstance(v, list)
                    or (all(c(x) for c, x in zip(prefix, v, strict=False)) and all(rest(x) for x in v[n:]))
                )
            item = self.compile(value, document)
            return lambda v: not isinstance(v, list) or all(item(x) for x in v)
        if key == "minItems":
            return lambda v: not isinstance(v, list) or len(v) >= value
        if key == "maxItems":
            return lambda v: not isinstance(v, list) or len(v) <= value
        if key == "uniqueItems":
            return _unique if value else _always
        if key == "minLength":
            return lambda v: not isinstance(v, str) or len(v) >= value
        if key == "maxLength":
            return lambda v: not isinstance(v, str) or len(v) <= value
        if key == "pattern":
            search = re.compile(value).search
            return lambda v: not isinstance(v, str) or search(v) is not None
        if key == "format":
            conforms = self.conforms
            return lambda v: conforms(v, value)
        if key in ("minimum", "maximum"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UnsupportedSchema(f"{key} {value!r}")
            number = _is_type("number")
            if key == "minimum":
                return lambda v: not number(v) or v >= value
            return lambda v: not number(v) or v <= value
        if key == "enum":
            options = list(value)
            if all(isinstance(o, str) for o in options):
                strings = frozenset(options)
                return lambda v: isinstance(v, str) and v in strings
            return lambda v: any(_equal(v, o) for o in options)
        if key == "const":
            return lambda v: _equal(v, value)
        if key == "allOf":
            return _all([self.compile(sub, document) for sub in value])
        if key == "anyOf":
            parts = [self.compile(sub, document) for sub in value]
            return lambda v: any(p(v) for p in parts)
        if key == "oneOf":
            parts = [self.compile(sub, document) for sub in value]
            return lambda v: sum(1 for p in parts if p(v)) == 1
        if key == "not":
            inner = self.compile(value, document)
            return lambda v: not inner(v)
        if key == "if":
            condition = self.compile(value, document)
            then = self.compile(schema.get("then", True), document)
            otherwise = self.compile(schema.get("else", True), document)
            return lambda v: then(v) if condition(v) else otherwise(v)
        raise UnsupportedSchema(f"keyword {key!r}")


def compile_cyclonedx(
    root: str, documents: Mapping[str, Mapping[str, Any]], *, conforms: FormatCheck
) -> Check:
    """A function answering whether a document is valid under ``documents[root]`` (Draft 7).

    *documents* maps each schema's file name (as ``$ref`` names it, relative to the root's
    ``$id``) to the parsed schema; *conforms* is the format checker's ``conforms``.
    """
    for name, doc in documents.items():
        if doc.get("$schema") != "http://json-schema.org/draft-07/schema#":
            raise UnsupportedSchema(f"{name}: only Draft 7")
    return _Compiler(documents, conforms).compile(documents[root], root)
