"""Strict JSON for untrusted documents (advisories, SBOMs, VEX), shared by every domain that reads them.

Invariants:
- duplicate object keys are refused: RFC 8259 §4 leaves them undefined, and two parsers reading one
  document differently is how a reviewed document and a stored one come to differ;
- ``NaN``, ``Infinity`` and ``-Infinity`` are refused (they are not JSON);
- nesting deeper than the caller's limit is refused, checked iteratively so a hostile document cannot
  exhaust the stack;
- the top level must be an object;
- a refusal carries a short summary and a bounded detail, never the document itself.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DETAIL_CHARS = 200


class StrictJsonError(ValueError):
    """Why a text was refused: ``summary`` completes "the document is …"; ``detail`` says where or what."""

    def __init__(self, summary: str, detail: str) -> None:
        super().__init__(f"{summary}: {detail}")
        self.summary = summary
        self.detail = detail[:MAX_DETAIL_CHARS]


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def too_deep(value: Any, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest deeper than ``limit`` levels."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def loads_object(text: str, *, max_depth: int) -> dict[str, Any]:
    """One untrusted JSON object, or :class:`StrictJsonError`."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKeyError as exc:
        raise StrictJsonError("not valid JSON", f"duplicate key {str(exc)[:80]!r}") from None
    except RecursionError:
        raise StrictJsonError("not valid JSON", f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise StrictJsonError("not valid JSON", str(exc)) from None
    if not isinstance(value, dict):
        raise StrictJsonError("not a JSON object", "expected an object")
    if too_deep(value, max_depth):
        raise StrictJsonError("nested too deeply", f"more than {max_depth} levels")
    return value
