"""JSON Schema's ``type`` keyword as Python checks, shared by the compiled validity checks of the
clearinghouse (advisories' Draft 2020-12 schemas, CycloneDX's Draft 7 ones): both drafts define the
seven types alike, and ``jsonschema`` decides them this way (a bool is not a number; 1.0 is an integer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_CHECKS: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
}


def type_check(name: str) -> Callable[[Any], bool] | None:
    """The check for JSON Schema type ``name``, or None for a name no draft defines."""
    return _CHECKS.get(name)
