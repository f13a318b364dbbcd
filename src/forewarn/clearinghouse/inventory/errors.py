"""The error every inventory parser raises for a document it refuses.

Invariant: a parser returns a complete :class:`~.schemas.Inventory` or raises :class:`InvalidSbom`;
nothing partial escapes. Each :class:`~forewarn.core.errors.Problem` names its place: a JSON Pointer
(RFC 6901) for JSON documents (``/components/3/purl``), an XPath-like path for XML
(``/bom/components/component[2]/name``), ``line L:C`` for CSV, or ``""`` for the whole document.
Messages may quote untrusted text; whoever shows them escapes them.
"""

from __future__ import annotations

from collections.abc import Iterable

from forewarn.core.errors import InvalidInput, Problem, TooLarge

__all__ = ["MAX_PROBLEMS", "InvalidSbom", "Problem", "SbomTooLarge", "pointer"]

#: Problems kept per error: enough to fix a document, bounded for a hostile one.
MAX_PROBLEMS = 100


def _bounded(problems: Iterable[Problem]) -> list[Problem]:
    kept = list(problems)
    dropped = len(kept) - MAX_PROBLEMS
    if dropped > 0:
        kept = [*kept[:MAX_PROBLEMS], Problem("", f"… and {dropped} more problems")]
    return kept


class InvalidSbom(InvalidInput):
    """An SBOM, product list or VEX document that cannot be accepted (HTTP 422)."""

    title = "Invalid SBOM"

    def __init__(self, message: str, *, problems: Iterable[Problem] = ()) -> None:
        super().__init__(message, problems=_bounded(problems))


class SbomTooLarge(TooLarge):
    """A document over one of the size or count limits (HTTP 413)."""

    title = "SBOM too large"

    def __init__(self, message: str, *, problems: Iterable[Problem] = ()) -> None:
        super().__init__(message, problems=_bounded(problems))


def pointer(*parts: str | int) -> str:
    """A JSON Pointer (RFC 6901 §3) from path segments, escaping ``~`` and ``/``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
