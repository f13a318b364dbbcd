"""A JSON Schema (Draft 2020-12) validity check compiled to closures, for the keywords forewarn's own
schemas use; ``jsonschema`` stays the reference and reports the problems.

Why: the ``jsonschema`` package spends about 1 ms on one OSV record (it re-creates a validator for
every sub-schema it descends into), which alone caps an import at about 1,000 records/s. Compiled
once, the same checks cost a tenth of that.

Invariants:

- :func:`compile_schema` refuses (``UnsupportedSchema``) any schema with an assertion keyword it
  does not implement, so a schema change can never make it silently lenient; callers then use
  ``jsonschema`` alone;
- the compiled check answers exactly what ``Draft202012Validator(schema).is_valid`` answers
  (without a format checker: ``format`` is an annotation in 2020-12 §7.2.1); tests compare the two
  on public records, on mutations of them and on generated documents;
- it only answers valid / not valid: every "not valid" is re-checked by ``jsonschema``, which names
  each problem, and which is trusted if the two ever disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from forewarn.core.jsontypes import type_check

__all__ = ["UnsupportedSchema", "compile_schema"]

Check = Callable[[Any], bool]

#: Keywords that assert nothing (annotations, identifiers, containers handled elsewhere).
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default", "format",
     "deprecated", "readOnly", "writeOnly"}
)  # fmt: skip


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this compiler does not implement."""


def _is_type(name: str) -> Check:
    check = type_check(name)
    if check is None:
        raise UnsupportedSchema(f"type {name!r}")
    return check


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers, 1 == 1.0, containers compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, target: str) -> Check:
        if not target.startswith("#/"):
            raise UnsupportedSchema(f"$ref {target!r}")
        if target not in self.refs:
            holder: list[Check] = []
            self.refs[target] = lambda v: holder[0](v)  # noqa: PLW0108 -- late-bound: recursive schemas work
            node: Any = self.root
            for part in target[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            holder.append(self.compile(node))
        return self.refs[target]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, Mapping):
            raise UnsupportedSchema("a schema is an object or a boolean")
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _ANNOTATIONS or key in ("then",):  # "then" is compiled with "if"
                continue
            checks.append(self.keyword(key, value, schema))
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def keyword(self, key: str, value: Any, schema: Mapping[str, Any]) -> Check:
        if key == "$ref":
            return self.ref(value)
        if key == "type":
            names = value if isinstance(value, list) else [value]
            types = [_is_type(n) for n in names]
            return lambda v: any(t(v) for t in types)
        if key == "properties":
            props = [(name, self.compile(sub)) for name, sub in value.items()]
            return lambda v: not isinstance(v, dict) or all(c(v[n]) for n, c in props if n in v)
        if key == "required":
            names = list(value)
            return lambda v: not isinstance(v, dict) or all(n in v for n in names)
        if key == "additionalProperties":
            if "patternProperties" in schema:
                raise UnsupportedSchema("patternProperties")
            known = frozenset(schema.get("properties", {}))
            extra = self.compile(value)
            return lambda v: not isinstance(v, dict) or all(extra(v[k]) for k in v if k not in known)
        if key == "items":
            item = self.compile(value)
            return lambda v: not isinstance(v, list) or all(item(x) for x in v)
        if key == "contains":
            if "minContains" in schema or "maxContains" in schema:
                raise UnsupportedSchema("minContains/maxContains")
            inner = self.compile(value)
            return lambda v: not isinstance(v, list) or any(inner(x) for x in v)
        if key == "minItems":
            return lambda v: not isinstance(v, list) or len(v) >= value
        if key == "minLength":
            return lambda v: not isinstance(v, str) or len(v) >= value
        if key == "minProperties":
            return lambda v: not isinstance(v, dict) or len(v) >= value
        if key == "maxProperties":
            return lambda v: not isinstance(v, dict) or len(v) <= value
        if key == "pattern":
            search = re.compile(value).search
            return lambda v: not isinstance(v, str) or search(v) is not None
        if key == "enum":
            options = list(value)
            return lambda v: any(_equal(v, o) for o in options)
        if key == "const":
            return lambda v: _equal(v, value)
        if key == "allOf":
            parts = [self.compile(sub) for sub in value]
            return lambda v: all(p(v) for p in parts)
        if key == "not":
            inner = self.compile(value)
            return lambda v: not inner(v)
        if key == "if":
            if "else" in schema:
                raise UnsupportedSchema("else")
            condition = self.compile(value)
            then = self.compile(schema.get("then", True))
            return lambda v: not condition(v) or then(v)
        raise UnsupportedSchema(f"keyword {key!r}")


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """A function answering whether a document is valid under *schema* (Draft 2020-12)."""
    if schema.get("$schema", "https://json-schema.org/draft/2020-12/schema") != (
        "https://json-schema.org/draft/2020-12/schema"
    ):
        raise UnsupportedSchema("only Draft 2020-12")
    return _Compiler(schema).compile(schema)
