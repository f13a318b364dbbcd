"""Bounded, strict JSON for untrusted advisory documents.

Invariants:

- a document larger than its byte limit is refused before it is parsed;
- duplicate object keys, ``NaN``/``Infinity`` and nesting deeper than :data:`MAX_DEPTH` are refused
  (RFC 8259 §4 leaves duplicate names undefined; two parsers reading one document differently is how
  a reviewed document and a stored one come to differ);
- JSON Schema problems are reported as JSON Pointers into the document, with bounded messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forewarn.clearinghouse.advisories.errors import InvalidAdvisory, Problem, pointer
from forewarn.core.strictjson import StrictJsonError, loads_object

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["MAX_DEPTH", "MAX_MESSAGE_CHARS", "parse_json", "schema_problems"]

#: Deepest nesting of arrays and objects accepted (CSAF product trees are the deepest legitimate case).
MAX_DEPTH = 64
#: Longest problem message kept; schema errors may quote large parts of a hostile document.
MAX_MESSAGE_CHARS = 300


def parse_json(raw: bytes | str, *, max_bytes: int, what: str = "document") -> dict[str, Any]:
    """Parse one untrusted JSON object, or raise :class:`InvalidAdvisory` saying why not."""
    size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
    if size > max_bytes:
        raise InvalidAdvisory(
            f"{what} is too large", problems=[Problem("", f"{size} bytes; the limit is {max_bytes}")]
        )
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise InvalidAdvisory(f"{what} is not UTF-8", problems=[Problem("", str(exc))]) from None
    try:
        return loads_object(text, max_depth=MAX_DEPTH)
    except StrictJsonError as exc:
        raise InvalidAdvisory(f"{what} is {exc.summary}", problems=[Problem("", exc.detail)]) from None


def _short(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 1] + "…"


def _most_specific(error: ValidationError) -> ValidationError:
    """Descend a failed ``oneOf``/``anyOf`` into the branch that came closest: fewest errors, deepest."""
    while error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else None, []).append(
                sub
            )
        closest = min(
            branches.values(), key=lambda errs: (len(errs), -max(len(e.absolute_path) for e in errs))
        )
        error = max(closest, key=lambda e: len(e.absolute_path))
    return error


def schema_problems(validator: Validator, doc: Any, *, limit: int = 100) -> list[Problem]:
    """Every JSON Schema violation in *doc* (up to *limit*), each at its JSON Pointer.

    A failed ``oneOf``/``anyOf`` is reported as the most specific error of the branch that came
    closest (a CVSS object that is neither v3.0 nor v3.1 is reported at its ``vectorString``), since
    "is not valid under any of the given schemas" does not help anyone fix a document.
    """
    problems: list[Problem] = []
    for error in validator.iter_errors(doc):
        chosen = _most_specific(error)
        problems.append(Problem(pointer(*chosen.absolute_path), _short(chosen.message)))
        if len(problems) >= limit:
            break
    problems.sort(key=lambda p: p.field)
    return problems
